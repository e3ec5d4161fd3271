"""`yubin dkim generate DOMAIN` and `yubin dkim show DOMAIN`: DKIM signing keys and their DNS records."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from admin_panel.cli.base import CliError
from store.selectors.dkim import dkim_key_active, dkim_keys
from store.services.dkim import ALGORITHMS, RSA_BITS_DEFAULT, dkim_key_generate, dkim_zone_line


def register(groups: Any) -> None:
    parser = groups.add_parser("dkim", help="DKIM keys of local domains")
    actions = parser.add_subparsers(dest="action", required=True)
    generate = actions.add_parser("generate", help="make a new signing key and print the DNS record")
    generate.add_argument("domain")
    generate.add_argument("--algorithm", choices=ALGORITHMS, default=None, help="rsa (default) or ed25519")
    generate.add_argument("--bits", type=int, default=RSA_BITS_DEFAULT, help="RSA key size")
    generate.add_argument("--selector", default="", help="default: yYYYYMM")
    generate.set_defaults(handler=dkim_generate_cmd)
    show = actions.add_parser("show", help="print the DNS record of the active key")
    show.add_argument("domain")
    show.add_argument("--all", action="store_true", help="every key, the inactive ones too")
    show.set_defaults(handler=dkim_show_cmd)


def dkim_generate_cmd(options: dict[str, Any], out: Any) -> None:
    key = dkim_key_generate(
        domain=options["domain"],
        algorithm=options["algorithm"] or settings.YUBIN_DKIM_ALGORITHM,
        selector=options["selector"],
        bits=options["bits"],
    )
    out.write(dkim_zone_line(key))


def dkim_show_cmd(options: dict[str, Any], out: Any) -> None:
    if options["all"]:
        keys = dkim_keys(options["domain"])
    else:
        active = dkim_key_active(options["domain"])
        keys = [active] if active else []
    if not keys:
        raise CliError(f"no DKIM key for {options['domain']}: run `yubin dkim generate {options['domain']}`")
    for key in keys:
        out.write(dkim_zone_line(key))
