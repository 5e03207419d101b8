from django import template

from cameras.today import today_panel

register = template.Library()


@register.inclusion_tag("admin/today_panel.html", takes_context=True)
def today(context):
    request = context["request"]
    return {"panel": today_panel(request), "request": request}
