"""Query-string filters for the staff device API."""

from __future__ import annotations

import django_filters as filters

from config.filters import BooleanFilter, FilterSet

from ..models import Deployment, Device, online_since


class DeviceFilter(FilterSet):
    label = filters.CharFilter(method="filter_label")
    online = BooleanFilter(method="filter_online")
    room_code = filters.CharFilter(field_name="room__code")

    class Meta:
        model = Device
        fields = ["state", "kind", "room", "group", "agent_version", "bundle_version"]

    def filter_label(self, queryset, name, value):
        return queryset.filter(labels__contains=[value])

    def filter_online(self, queryset, name, value):
        since = online_since()
        return (
            queryset.filter(last_heartbeat_at__gte=since) if value else queryset.exclude(last_heartbeat_at__gte=since)
        )


class DeploymentFilter(FilterSet):
    class Meta:
        model = Deployment
        fields = ["state", "bundle"]
