"""The e-mails to visitors, built (pure: no I/O): a batch of agent replies, or a conversation's transcript.

Every header is set through email.message.EmailMessage and email.headerregistry.Address, never
concatenated: a CR or LF in a name, subject or address cannot start a header of its own (names and
subjects are flattened to one line first; an address with anything but its own characters is refused).
Both parts are built from the same data: text, and HTML with every piece of text escaped.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import email.policy
import html
import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from .attachments import files_of
from .domain import AGENT, AI, SYSTEM, VISITOR, visible_to_visitor

MAX_ADDRESS_CHARS = 254
MAX_NAME_CHARS = 80
# Control characters (CR and LF among them) and the Unicode line and paragraph separators.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
# An address as this product accepts one: local@domain.tld, nothing that has a meaning in a header.
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\]+")


def one_line(text: str, max_chars: int = MAX_NAME_CHARS) -> str:
    """Text for a header or a heading: line breaks and control characters become spaces, whitespace is
    collapsed, and it is cut to `max_chars`."""
    flat = " ".join(_LINE_BREAKING.sub(" ", text or "").split())
    return flat if len(flat) <= max_chars else flat[:max_chars - 1].rstrip() + "…"


def mail_address(raw: str | None) -> Address | None:
    """An e-mail address fit for To: (None for anything else: empty, too long, header syntax in it)."""
    raw = (raw or "").strip()
    if not raw or len(raw) > MAX_ADDRESS_CHARS or not _ADDRESS.fullmatch(raw):
        return None
    try:
        address = Address(addr_spec=raw)
    except (ValueError, IndexError, TypeError):
        return None
    return address if address.username and address.domain else None


@dataclasses.dataclass(frozen=True)
class MailParts:
    """What an e-mail is made of: who, to whom, its links and its id."""
    tenant_name: str
    customer_name: str
    to_addr: str
    from_addr: str
    message_id: str  # "<…@…>", the same for every attempt at this e-mail
    resume_url: str
    unsubscribe_url: str


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _who(message: dict, customer_name: str) -> str:
    if message["sender_type"] == VISITOR:
        return "You"
    return one_line(message["sender_name"]) or ("Assistant" if message["sender_type"] == AI else "Agent")


def _text_of(message: dict) -> str:
    files = [f"[file: {one_line(f.get('name', 'file'), 200)}]" for f in files_of(message)]
    return "\n".join(part for part in [message["body"] or "", *files] if part)


def _envelope(parts: MailParts, subject: str) -> EmailMessage:
    msg = EmailMessage(policy=email.policy.SMTP)
    sender = mail_address(parts.from_addr)
    msg["From"] = Address(display_name=one_line(parts.tenant_name), username=sender.username, domain=sender.domain)
    to = mail_address(parts.to_addr)
    msg["To"] = Address(display_name=one_line(parts.customer_name), username=to.username, domain=to.domain)
    msg["Subject"] = one_line(subject, 150)
    msg["Date"] = format_datetime(dt.datetime.now(dt.timezone.utc))
    msg["Message-ID"] = parts.message_id
    msg["Auto-Submitted"] = "auto-generated"
    # RFC 2369 and RFC 8058: mail clients offer "unsubscribe", and may do it with one POST.
    msg["List-Unsubscribe"] = f"<{parts.unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return msg


def _html_page(title: str, blocks: list[str]) -> str:
    body = "\n".join(blocks)
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>\n'
            f'<body style="font-family: sans-serif; line-height: 1.4; color: #222;">\n{body}\n</body></html>\n')


def _html_message(message: dict, customer_name: str) -> str:
    who = html.escape(_who(message, customer_name))
    text = html.escape(_text_of(message))
    if message["sender_type"] == SYSTEM:
        return f'<p style="color: #666;"><em>{text}</em> <small>{html.escape(_when(message["created_at_ms"]))}</small></p>'
    return (f'<p><strong>{who}</strong> <small style="color: #666;">{html.escape(_when(message["created_at_ms"]))}'
            f'</small><br><span style="white-space: pre-wrap;">{text}</span></p>')


def _text_message(message: dict, customer_name: str) -> str:
    if message["sender_type"] == SYSTEM:
        return f"-- {_text_of(message)} ({_when(message['created_at_ms'])})"
    return f"{_who(message, customer_name)} ({_when(message['created_at_ms'])}):\n{_text_of(message)}"


def _footer(parts: MailParts) -> tuple[str, str]:
    tenant = one_line(parts.tenant_name)
    text = (f"Continue the conversation: {parts.resume_url}\n\n"
            f"You do not need to answer this e-mail.\n"
            f"To get no more e-mail from {tenant}: {parts.unsubscribe_url}\n")
    markup = (f'<p><a href="{html.escape(parts.resume_url)}">Continue the conversation</a></p>\n'
              f'<p style="color: #666; font-size: small;">You do not need to answer this e-mail. '
              f'<a href="{html.escape(parts.unsubscribe_url)}">Get no more e-mail from {html.escape(tenant)}</a>.</p>')
    return text, markup


def replies_mail(parts: MailParts, replies: list[dict]) -> EmailMessage:
    """The agents' (and AI's) replies the visitor has not read, with the link back to the chat."""
    tenant = one_line(parts.tenant_name)
    subject = f"New {'reply' if len(replies) == 1 else 'replies'} from {tenant}"
    greeting = f"Hello {one_line(parts.customer_name)}," if one_line(parts.customer_name) else "Hello,"
    intro = f"{tenant} answered in your conversation while you were away:"
    shown = [m for m in replies if m["sender_type"] in (AGENT, AI)]
    footer_text, footer_html = _footer(parts)
    msg = _envelope(parts, subject)
    msg.set_content("\n\n".join([greeting, intro, *(_text_message(m, parts.customer_name) for m in shown),
                                 footer_text]))
    msg.add_alternative(_html_page(subject, [f"<p>{html.escape(greeting)}</p>", f"<p>{html.escape(intro)}</p>",
                                             *(_html_message(m, parts.customer_name) for m in shown), footer_html]),
                        subtype="html")
    return msg


def transcript_mail(parts: MailParts, history: list[dict]) -> EmailMessage:
    """The conversation as the visitor saw it (never an agents' private note)."""
    tenant = one_line(parts.tenant_name)
    subject = f"Your conversation with {tenant}"
    shown = [m for m in history if visible_to_visitor(m["sender_type"])]
    footer_text, footer_html = _footer(parts)
    msg = _envelope(parts, subject)
    msg.set_content("\n\n".join([f"The transcript of your conversation with {tenant}:",
                                 *(_text_message(m, parts.customer_name) for m in shown), footer_text]))
    msg.add_alternative(_html_page(subject, [f"<p>The transcript of your conversation with {html.escape(tenant)}:</p>",
                                             *(_html_message(m, parts.customer_name) for m in shown), footer_html]),
                        subtype="html")
    return msg


__all__ = ["MailParts", "mail_address", "one_line", "replies_mail", "transcript_mail"]
