"""`yubin queue list|show ID|retry ID|hold ID|release ID|delete ID|bounce ID`: the outbound queue."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from admin_panel.cli.base import CliError, table
from store.selectors.queue import queue_message, queue_messages, queue_recipients
from store.services.queue import queue_bounce, queue_delete, queue_hold, queue_release, queue_retry


def register(groups: Any) -> None:
    parser = groups.add_parser("queue", help="inspect and act on the outbound queue")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="messages waiting for delivery, with their next retry")
    listing.add_argument("--all", action="store_true", help="include finished messages")
    listing.set_defaults(handler=queue_list_cmd)
    for name, handler, text in (
        ("show", queue_show_cmd, "one message with each recipient's state and last reply"),
        ("retry", queue_retry_cmd, "attempt delivery now"),
        ("hold", queue_hold_cmd, "stop delivery attempts until released"),
        ("release", queue_release_cmd, "release a held message"),
        ("delete", queue_delete_cmd, "remove without notice to the sender"),
        ("bounce", queue_bounce_cmd, "fail the message now and send the sender a report"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("id", type=int)
        action.set_defaults(handler=handler)


def _when(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def queue_list_cmd(options: dict[str, Any], out: Any) -> None:
    rows = [("ID", "QUEUED", "SIZE", "SENDER", "PENDING", "NEXT ATTEMPT", "LAST REPLY")]
    for outbound in queue_messages(include_finished=options.get("all", False)):
        recipients = queue_recipients(outbound.pk)
        waiting = [r for r in recipients if r.state in ("queued", "deferred", "held")]
        last_reply = next((r.last_reply for r in waiting if r.last_reply), "")
        count = outbound.pending  # type: ignore[attr-defined]
        pending = "held" if outbound.held else str(count) if count else "done"
        rows.append(
            (
                str(outbound.pk),
                _when(outbound.created),
                str(outbound.size),
                outbound.sender or "<>",
                pending,
                _when(outbound.next_attempt),  # type: ignore[attr-defined]
                last_reply[:70],
            )
        )
    if len(rows) == 1:
        out.write("queue is empty")
        return
    out.write(table(rows))


def queue_show_cmd(options: dict[str, Any], out: Any) -> None:
    outbound = queue_message(options["id"])
    if outbound is None:
        raise CliError(f"no queued message {options['id']}")
    out.write(
        f"id: {outbound.pk}\nqueued: {_when(outbound.created)}\nsender: {outbound.sender or '<>'}\n"
        f"message-id: {outbound.message_id}\nsize: {outbound.size}\nheld: {'yes' if outbound.held else 'no'}\n"
    )
    rows = [("RECIPIENT", "STATE", "ATTEMPTS", "NEXT ATTEMPT", "HOST", "LAST REPLY")]
    for r in queue_recipients(outbound.pk):
        waiting = r.state in ("queued", "deferred")
        rows.append(
            (r.address, r.state, str(r.attempts), _when(r.next_attempt) if waiting else "-", r.last_host or "-",
             r.last_reply or "-")
        )  # fmt: skip
    out.write(table(rows))


def queue_retry_cmd(options: dict[str, Any], out: Any) -> None:
    out.write(f"{queue_retry(outbound_id=options['id'])} recipient(s) due now")


def queue_hold_cmd(options: dict[str, Any], out: Any) -> None:
    out.write(f"{queue_hold(outbound_id=options['id'])} recipient(s) held")


def queue_release_cmd(options: dict[str, Any], out: Any) -> None:
    out.write(f"{queue_release(outbound_id=options['id'])} recipient(s) released")


def queue_delete_cmd(options: dict[str, Any], out: Any) -> None:
    out.write(f"deleted; {queue_delete(outbound_id=options['id'])} recipient(s) were undelivered")


def queue_bounce_cmd(options: dict[str, Any], out: Any) -> None:
    out.write(f"{queue_bounce(outbound_id=options['id'])} recipient(s) bounced")
