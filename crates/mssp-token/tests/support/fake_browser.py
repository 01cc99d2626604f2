#!/usr/bin/env python3
"""A browser stand-in for integration tests, started by mssp-token through $BROWSER or
--browser-command with the sign-in URL as its last argument.

It behaves like a person at a browser: GET the sign-in page, read its HTML form, pick an
account, press Accept or Cancel, follow the redirect to wherever it points (mssp-token's
loopback listener), and read the page shown there. What it saw is appended as JSON lines to
$FAKE_BROWSER_LOG so that the test can assert on it.

Environment:
  FAKE_BROWSER_LOG      file to append JSON lines to (required)
  FAKE_BROWSER_ACTION   accept (default) | cancel | none (never sign in) | wrong-state-first
                        (first send the redirect with a forged state, then the real one) |
                        twice (send the real redirect two times) | no-follow (stop before the
                        redirect and log where the browser would land: paste mode)
  FAKE_BROWSER_ACCOUNT  the account (UPN) to pick on the sign-in page
"""
import html.parser
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect, urllib.request.ProxyHandler({}))


def log(**entry):
    with open(os.environ["FAKE_BROWSER_LOG"], "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def fetch(url, data=None):
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        resp = OPENER.open(req, timeout=10)
        return resp.status, dict(resp.headers), resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


class FormParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.action = None
        self.fields = {}
        self.accounts = []
        self.checked = None
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = a.get("action", "")
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            name = a.get("name")
            if not name:
                return
            if kind == "radio":
                self.accounts.append(a.get("value"))
                if "checked" in a:
                    self.checked = a.get("value")
            elif kind in ("hidden", "text", "email"):
                self.fields[name] = a.get("value", "")
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def visible_text(page):
    class T(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts = []
            self.skip = False

        def handle_starttag(self, tag, attrs):
            self.skip = tag in ("style", "script", "title")

        def handle_endtag(self, tag):
            self.skip = False

        def handle_data(self, data):
            if not self.skip and data.strip():
                self.parts.append(data.strip())

    t = T()
    t.feed(page)
    return " ".join(t.parts)


def land(location, label):
    status, _, body = fetch(location)
    log(step=label, url=location, status=status, text=visible_text(body), html=body)
    return status


def main():
    url = sys.argv[-1]
    action = os.environ.get("FAKE_BROWSER_ACTION", "accept")
    log(step="open", url=url, argv=sys.argv[1:])
    if action == "none":
        return
    status, headers, body = fetch(url)
    if status in (301, 302, 303, 307):
        # prompt=none, or an authority that redirects at once.
        location = headers.get("Location") or headers.get("location")
        log(step="redirected", status=status, location=location)
        land(location, "landed")
        return
    form = FormParser()
    form.feed(body)
    log(step="signin-page", status=status, title=form.title.strip(), text=visible_text(body),
        accounts=form.accounts)
    if form.action is None:
        return  # an error page: the person would read it and give up
    fields = dict(form.fields)
    account = os.environ.get("FAKE_BROWSER_ACCOUNT") or form.checked
    if account:
        fields["account"] = account
    fields["action"] = "cancel" if action == "cancel" else "accept"
    target = urllib.parse.urljoin(url, form.action)
    status, headers, body = fetch(target, urllib.parse.urlencode(fields).encode())
    location = headers.get("Location") or headers.get("location")
    log(step="submitted", status=status, location=location, text=visible_text(body))
    if not location:
        return
    if action == "no-follow":
        log(step="would-land", url=location)
        return
    if action == "wrong-state-first":
        parts = urllib.parse.urlsplit(location)
        q = urllib.parse.parse_qsl(parts.query)
        forged = [(k, "forged-state" if k == "state" else v) for k, v in q]
        land(urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(forged))), "forged")
    land(location, "landed")
    if action == "twice":
        land(location, "again")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the test reads the log; a traceback there helps
        log(step="crash", error=repr(e))
        raise
    finally:
        # The test waits for this line: mssp-token may exit before the browser has logged
        # the page it landed on.
        log(step="done")
