"""Roundcube driven over HTTP as a browser would, without a browser.

One `Session` is one browser: it keeps Roundcube's cookies, GETs the login page for
its request token, POSTs the login form, opens the compose page (its compose id, the
identities offered as senders) and POSTs the send form, the fields Roundcube 1.6's own
JavaScript posts. Plain `http.client` against `php -S` in a lab host.
"""

from __future__ import annotations

import html
import http.client
import re
import urllib.parse
from dataclasses import dataclass, field

TOKEN = re.compile(r'name="_token" value="(\w+)"')


class RoundcubeError(AssertionError):
    """Roundcube did not answer as a working webmail does (the page says why)."""


@dataclass(frozen=True)
class Page:
    status: int
    location: str
    body: str


@dataclass(frozen=True)
class Compose:
    """An open compose form: its id, the request token, the senders offered."""

    compose_id: str
    token: str
    identities: dict[str, str]  # option value -> "Name <address>"


@dataclass
class Session:
    address: str
    port: int = 8080
    cookies: dict[str, str] = field(default_factory=dict)
    token: str = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Page:
        connection = http.client.HTTPConnection(self.address, self.port, timeout=30)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    key, _, rest = value.partition("=")
                    cookie = rest.split(";", 1)[0]
                    if cookie == "-del-":
                        self.cookies.pop(key, None)
                    else:
                        self.cookies[key] = cookie
            return Page(response.status, response.getheader("Location") or "", text)
        finally:
            connection.close()

    def login(self, user: str, password: str) -> Page:
        """The login page, then the login form; success is a redirect to the mailbox."""
        page = self.request("GET", "/?_task=login")
        match = TOKEN.search(page.body)
        if page.status != 200 or match is None:
            raise RoundcubeError(f"no login form (HTTP {page.status})")
        answer = self.request("POST", "/?_task=login", {
            "_token": match.group(1), "_task": "login", "_action": "login",
            "_timezone": "UTC", "_url": "", "_user": user, "_pass": password})
        found = re.search(r"_token=(\w+)", answer.location)
        if answer.status == 302 and "_task=mail" in answer.location and found:
            self.token = found.group(1)
        return answer

    def compose(self) -> Compose:
        opened = self.request("GET", "/?_task=mail&_action=compose")
        if opened.status != 302 or "_id=" not in opened.location:
            raise RoundcubeError(f"compose did not open (HTTP {opened.status})")
        page = self.request("GET", opened.location)
        compose_id = re.search(r'"compose_id":"(\w+)"', page.body)
        token = TOKEN.search(page.body)
        senders = re.search(r'<select name="_from"[^>]*>(.*?)</select>', page.body, re.S)
        if not (page.status == 200 and compose_id and token and senders):
            raise RoundcubeError(f"no compose form (HTTP {page.status})")
        identities = {value: html.unescape(text) for value, text in re.findall(
            r'<option value="(\d+)"[^>]*>([^<]*)</option>', senders.group(1))}
        return Compose(compose_id.group(1), token.group(1), identities)

    def send(self, form: Compose, identity: str, to: str, subject: str, text: str) -> Page:
        """Send as the browser's Send button does (plain text, no copy to Sent)."""
        return self.request("POST", "/?_task=mail&_unlock=loading1&_framed=1", {
            "_token": form.token, "_task": "mail", "_action": "send",
            "_id": form.compose_id, "_attachments": "", "_from": identity, "_to": to,
            "_cc": "", "_bcc": "", "_replyto": "", "_followupto": "", "_subject": subject,
            "_draft_saveid": "", "_draft": "", "_is_html": "0", "_framed": "1",
            "_store_target": "", "_message": text})

    def add_contact(self, first: str, last: str, email: str) -> Page:
        """A contact in the personal address book, as the contact form saves it."""
        return self.request("POST", "/?_task=addressbook&_action=save", {
            "_token": self.token, "_source": "0", "_firstname": first, "_surname": last,
            "_email[]": email, "_subtype_email[]": "home", "_framed": "1"})

    def contacts_vcard(self) -> str:
        """The personal address book as vCards (Roundcube's export)."""
        page = self.request("GET", f"/?_task=addressbook&_action=export&_source=0"
                                   f"&_token={self.token}")
        if page.status != 200:
            raise RoundcubeError(f"export failed (HTTP {page.status})")
        return page.body
