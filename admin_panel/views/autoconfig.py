"""Client autoconfiguration endpoints (Thunderbird autoconfig, Outlook autodiscover) and MTA-STS.

These are public: a mail client asks before it has credentials. They answer only for local,
active domains and never say whether an account exists. The Apple profile is the exception: it
is for the signed-in user only (the webmail's settings page links to it).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from admin_panel.autoconfig import (
    autodiscover_error,
    autodiscover_response,
    mobileconfig,
    request_email,
    thunderbird_config,
)
from admin_panel.dns_records import mta_sts_policy
from store.addresses import AddressError, normalize_address, normalize_domain, split_address
from store.models import Domain

XML_TYPE = "application/xml; charset=utf-8"


def _local_domain(name: str) -> Domain | None:
    try:
        normalized = normalize_domain(name)
    except AddressError:
        return None
    return Domain.objects.filter(name=normalized, active=True).first()


def _host_domain(request: HttpRequest, prefix: str) -> str:
    host = request.get_host().rsplit(":", 1)[0].lower() if request.get_host() else ""
    return host.removeprefix(prefix)


@require_GET
def thunderbird_autoconfig(request: HttpRequest) -> HttpResponse:
    """GET config-v1.1.xml?emailaddress=…; without the address, the domain of the Host header."""
    address = request.GET.get("emailaddress", "").strip()
    if address:
        try:
            domain_name = split_address(normalize_address(address))[1]
        except AddressError:
            return HttpResponseNotFound("unknown domain\n", content_type="text/plain")
    else:
        domain_name = _host_domain(request, "autoconfig.")
    domain = _local_domain(domain_name)
    if domain is None:
        return HttpResponseNotFound("unknown domain\n", content_type="text/plain")
    return HttpResponse(thunderbird_config(domain.name), content_type=XML_TYPE)


@csrf_exempt
@require_http_methods(["POST"])
def outlook_autodiscover(request: HttpRequest) -> HttpResponse:
    address_text = request_email(request.body)
    try:
        address = normalize_address(address_text or "")
    except AddressError:
        return HttpResponse(autodiscover_error(), content_type=XML_TYPE)
    if _local_domain(split_address(address)[1]) is None:
        return HttpResponse(autodiscover_error(), content_type=XML_TYPE)
    return HttpResponse(autodiscover_response(address), content_type=XML_TYPE)


@require_GET
def mta_sts(request: HttpRequest) -> HttpResponse:
    """The MTA-STS policy (RFC 8461 §3.3) at https://mta-sts.<domain>/.well-known/mta-sts.txt."""
    domain = _local_domain(_host_domain(request, "mta-sts."))
    if domain is None:
        return HttpResponseNotFound("unknown domain\n", content_type="text/plain")
    return HttpResponse(mta_sts_policy(domain), content_type="text/plain; charset=utf-8")


@require_GET
def apple_profile(request: HttpRequest) -> HttpResponse:
    """The signed-in user's Apple configuration profile (.mobileconfig), as a download."""
    user = request.user
    address = getattr(user, "address", "")
    if not user.is_authenticated or not address:
        return HttpResponse("sign in to the webmail first\n", status=403, content_type="text/plain; charset=utf-8")
    response = HttpResponse(
        mobileconfig(address=address, display_name=getattr(user, "display_name", "")),
        content_type="application/x-apple-aspen-config",
    )
    response["Content-Disposition"] = f'attachment; filename="{split_address(address)[1]}.mobileconfig"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
