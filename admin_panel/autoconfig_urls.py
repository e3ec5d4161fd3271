"""Client autoconfiguration and MTA-STS URLs, included at the site root by yubin/urls.py."""

from django.urls import path

from admin_panel.views import autoconfig

urlpatterns = [
    path(".well-known/autoconfig/mail/config-v1.1.xml", autoconfig.thunderbird_autoconfig, name="autoconfig_wellknown"),
    path("mail/config-v1.1.xml", autoconfig.thunderbird_autoconfig, name="autoconfig"),
    path("autodiscover/autodiscover.xml", autoconfig.outlook_autodiscover, name="autodiscover"),
    path("Autodiscover/Autodiscover.xml", autoconfig.outlook_autodiscover, name="autodiscover_capitalised"),
    path(".well-known/mta-sts.txt", autoconfig.mta_sts, name="mta_sts"),
    path("mail/profile.mobileconfig", autoconfig.apple_profile, name="apple_profile"),
]
