from .views import routes

urlpatterns = routes.urlpatterns()
