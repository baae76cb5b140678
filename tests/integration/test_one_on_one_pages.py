"""The 1-on-1 page of one person (/o/<token>), driven as a browser would: the link HR gets
from the API, the page's own forms (with their hidden field), and what each person then
sees. People come from POST /api/v1/people; manager_email makes their reporting pairs."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ADMIN_TOKEN, PUBLIC_URL
from tests.support.factories import ApiClient
from tests.support.slack_stub import BOT_TOKEN, SIGNING_SECRET, SlackStub
from web.one_on_ones import LINK_DAYS, make_token

FORM_KEY = re.compile(r'name="form_key" value="([0-9a-f]+)"')


def person(api, name: str, email: str, manager_email: str | None = None, **extra) -> int:
    body = {"name": name, "email": email, **extra}
    if manager_email:
        body["manager_email"] = manager_email
    resp = api.post("/people", body)
    assert resp.status_code in (200, 201), resp.get_json()
    return resp.get_json()["id"]


def page_path(api, person_id: int) -> str:
    resp = api.get(f"/people/{person_id}/one-on-ones-link")
    assert resp.status_code == 200, resp.get_json()
    url = resp.get_json()["url"]
    assert url.startswith(f"{PUBLIC_URL}/o/")
    return url.removeprefix(PUBLIC_URL)


def text_of(resp) -> str:
    """The page as a reader sees it: tags dropped, entities decoded, spaces collapsed."""
    body = re.sub(r"<[^>]+>", " ", resp.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(body))


class Browser:
    """One person's page: open it, and submit its forms."""

    def __init__(self, client, path: str):
        self.client, self.path = client, path

    def open(self):
        resp = self.client.get(self.path)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        return resp

    def text(self) -> str:
        return text_of(self.open())

    def submit(self, action: str, **fields):
        key = FORM_KEY.search(self.open().get_data(as_text=True)).group(1)
        return self.client.post(f"{self.path}/{action}", data={"form_key": key, **fields})

    def ok(self, action: str, **fields):
        resp = self.submit(action, **fields)
        assert resp.status_code == 303, text_of(resp)[:500]
        assert resp.headers["Location"].endswith(self.path)
        return resp


@pytest.fixture
def team(api, client):
    """Mara manages Ravi and Ines; Olga has nothing to do with them."""
    mara = person(api, "Mara Manager", "mara@example.com")
    ravi = person(api, "Ravi Report", "ravi@example.com", "mara@example.com")
    ines = person(api, "Ines Report", "ines@example.com", "mara@example.com")
    olga = person(api, "Olga Outsider", "olga@example.com")
    ids = {"mara": mara, "ravi": ravi, "ines": ines, "olga": olga}
    pages = {name: Browser(client, own_path(pid)) for name, pid in ids.items()}
    return ids, pages


def own_path(person_id: int) -> str:
    """The link a person gets themselves (Slack's /parley page), which shows their notes."""
    return f"/o/{make_token('test-secret', person_id)}"


def pair_of(api, a: int, b: int) -> dict:
    pairs = api.get(f"/one-on-ones?person={a}").get_json()["one_on_ones"]
    found = [p for p in pairs if {x["id"] for x in p["people"]} == {a, b}]
    assert len(found) == 1, pairs
    return api.get(f"/one-on-ones/{found[0]['id']}").get_json()


def agenda(api, a: int, b: int) -> list[dict]:
    return [i for m in pair_of(api, a, b)["meetings"] for i in m["agenda"]]


def test_the_page_lists_each_persons_pairs_from_their_side(team):
    _ids, pages = team

    mara = pages["mara"].text()
    assert "Ravi Report with your report" in mara
    assert "Ines Report with your report" in mara
    assert "Your 1-on-1s Mara Manager" in mara
    ravi = pages["ravi"].text()
    assert "Mara Manager with your manager" in ravi
    assert "Ines" not in ravi
    assert "You have no 1-on-1s yet" in pages["olga"].text()


def test_a_talking_point_added_on_the_page_shows_on_both_pages(api, team):
    ids, pages = team
    pair = pair_of(api, ids["mara"], ids["ravi"])

    pages["ravi"].ok(f"pairs/{pair['id']}/agenda", text="Moving to the platform team")

    for name in ("ravi", "mara"):
        assert "Moving to the platform team Added by Ravi Report Open" in pages[name].text()
    assert "Moving to the platform team" not in pages["ines"].text()
    assert [i["text"] for i in agenda(api, ids["mara"], ids["ravi"])] == \
        ["Moving to the platform team"]


def test_discussed_carry_over_and_done_for_today(api, team):
    ids, pages = team
    pair = pair_of(api, ids["mara"], ids["ravi"])["id"]
    for text in ("Conference budget", "Holiday plans", "On-call load"):
        pages["mara"].ok(f"pairs/{pair}/agenda", text=text)
    budget, holiday, on_call = (i["id"] for i in agenda(api, ids["mara"], ids["ravi"]))

    pages["ravi"].ok(f"items/{budget}/discussed")
    pages["ravi"].ok(f"items/{holiday}/carry")
    page = pages["mara"].text()
    assert "Conference budget Added by Mara Manager Discussed" in page
    assert "Holiday plans Added by Mara Manager Kept for next time" in page

    pages["mara"].ok(f"pairs/{pair}/close")

    page = pages["ravi"].text()
    current, _, past = page.partition("Past meetings (1)")
    assert "Meeting 2: agenda" in current
    assert "Holiday plans Added by Mara Manager Open carried over 1×" in current
    assert "On-call load Added by Mara Manager Open carried over 1×" in current
    assert "Conference budget" not in current
    assert "Meeting 1" in past and "Conference budget" in past
    states = {i["text"]: (i["state"], i["carried"]) for i in agenda(api, ids["mara"],
                                                                     ids["ravi"])}
    assert states == {"Conference budget": ("discussed", 0), "Holiday plans": ("open", 1),
                      "On-call load": ("open", 1)}


def test_a_private_note_shows_to_its_author_only(api, team):
    ids, pages = team
    pair = pair_of(api, ids["mara"], ids["ravi"])["id"]

    pages["ravi"].ok(f"pairs/{pair}/notes", text="Ask about the promotion timeline")

    assert "Ask about the promotion timeline" in pages["ravi"].text()
    assert "Ask about the promotion timeline" not in pages["mara"].text()
    answer = api.get(f"/one-on-ones/{pair}").get_data(as_text=True)
    assert "promotion timeline" not in answer


def test_hrs_link_never_shows_or_takes_private_notes(api, client, team):
    ids, pages = team
    pair = pair_of(api, ids["mara"], ids["ravi"])["id"]
    pages["ravi"].ok(f"pairs/{pair}/notes", text="Ask about the promotion timeline")
    shared = Browser(client, page_path(api, ids["ravi"]))  # what HR was given
    text = shared.text()
    assert "promotion timeline" not in text and "/parley page" in text
    assert f"pairs/{pair}/notes" not in shared.open().get_data(as_text=True)
    resp = shared.submit(f"pairs/{pair}/notes", text="written by whoever holds HR's link")
    assert resp.status_code == 404
    assert "written by whoever" not in pages["ravi"].text()
    shared.ok(f"pairs/{pair}/agenda", text="Agenda works on it")  # the agenda does


def test_the_cadence_is_chosen_on_the_page(api, team):
    ids, pages = team
    pair = pair_of(api, ids["mara"], ids["ines"])["id"]

    pages["ines"].ok(f"pairs/{pair}/cadence", cadence_days="14")

    assert "Every 14 days" in pages["mara"].text()
    assert pair_of(api, ids["mara"], ids["ines"])["cadence_days"] == 14
    refused = pages["ines"].submit(f"pairs/{pair}/cadence", cadence_days="5")
    assert refused.status_code == 400
    assert "cadence_days: one of 7, 14, 21, 28" in text_of(refused)


def test_a_refused_change_shows_the_page_again_with_why(api, team):
    ids, pages = team
    pair = pair_of(api, ids["mara"], ids["ravi"])["id"]

    resp = pages["ravi"].submit(f"pairs/{pair}/agenda", text="   ")

    assert resp.status_code == 400
    assert "say what you want to talk about" in text_of(resp)
    assert "Mara Manager with your manager" in text_of(resp)
    assert agenda(api, ids["mara"], ids["ravi"]) == []


@pytest.mark.parametrize("spoil", ["tampered", "truncated", "nonsense"])
def test_a_spoiled_link_gets_the_clear_page(client, team, spoil):
    _ids, pages = team
    path = pages["ravi"].path
    token = path.removeprefix("/o/")
    bad = {"tampered": token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
           "truncated": token[: len(token) // 2], "nonsense": "not-a-token"}[spoil]

    for resp in (client.get(f"/o/{bad}"), client.post(f"/o/{bad}/pairs/1/agenda",
                                                     data={"text": "x"})):
        assert resp.status_code == 404
        assert "We couldn't find this link" in text_of(resp)
        assert resp.mimetype == "text/html"


def test_an_expired_link_gets_the_clear_page(app, client, team):
    ids, _pages = team
    secret = app.config["SETTINGS"].secret_key
    old = make_token(secret, ids["ravi"],
                     issued_at=datetime.now(UTC) - timedelta(days=LINK_DAYS, hours=1))
    fresh = make_token(secret, ids["ravi"],
                       issued_at=datetime.now(UTC) - timedelta(days=LINK_DAYS - 1))

    resp = client.get(f"/o/{old}")
    assert resp.status_code == 410
    assert "This link has expired" in text_of(resp)
    assert "ask HR for a new one" in text_of(resp)
    assert client.get(f"/o/{fresh}").status_code == 200


def test_a_link_signed_with_another_key_or_for_nobody_is_unknown(app, client, team):
    ids, _pages = team
    secret = app.config["SETTINGS"].secret_key

    for token in (make_token("another-secret", ids["ravi"]), make_token(secret, 999999)):
        resp = client.get(f"/o/{token}")
        assert resp.status_code == 404
        assert "We couldn't find this link" in text_of(resp)


def test_someone_elses_pair_or_item_is_not_found(api, team):
    ids, pages = team
    pair = pair_of(api, ids["mara"], ids["ravi"])["id"]
    pages["ravi"].ok(f"pairs/{pair}/agenda", text="Private matter")
    item = agenda(api, ids["mara"], ids["ravi"])[0]["id"]

    for action, fields in ((f"pairs/{pair}/agenda", {"text": "sneaky"}),
                           (f"pairs/{pair}/notes", {"text": "sneaky"}),
                           (f"pairs/{pair}/close", {}),
                           (f"pairs/{pair}/cadence", {"cadence_days": "28"}),
                           (f"items/{item}/discussed", {}), (f"items/{item}/carry", {}),
                           ("pairs/987654/agenda", {"text": "x"}),
                           ("items/99999999999999/discussed", {})):
        resp = pages["ines"].submit(action, **fields)
        assert resp.status_code == 404, action
        assert "We couldn't find this 1-on-1" in text_of(resp)
    assert [(i["text"], i["state"]) for i in agenda(api, ids["mara"], ids["ravi"])] == \
        [("Private matter", "open")]
    assert pair_of(api, ids["mara"], ids["ravi"])["cadence_days"] == 7


def test_a_retired_pair_is_read_only(api, client, team):
    ids, pages = team
    old = pair_of(api, ids["mara"], ids["ravi"])["id"]
    pages["ravi"].ok(f"pairs/{old}/agenda", text="Team change")
    person(api, "Ravi Report", "ravi@example.com", "ines@example.com")  # a new manager

    page = pages["ravi"].open().get_data(as_text=True)
    retired = page[page.index(f'id="pair-{old}"'):]
    assert "Ended — the reporting line changed" in text_of(pages["ravi"].open())
    assert "Team change" in retired
    assert f"/pairs/{old}/" not in page and "/discussed" not in retired
    assert "Ines Report with your manager" in text_of(pages["ravi"].open())

    for action in (f"pairs/{old}/agenda", f"pairs/{old}/notes"):
        resp = pages["ravi"].submit(action, text="after the change")
        assert resp.status_code == 409
        assert "retired" in text_of(resp)
    assert [i["text"] for i in agenda(api, ids["mara"], ids["ravi"])] == ["Team change"]


def test_a_form_without_the_pages_field_is_refused(api, client, team):
    ids, pages = team
    pair = pair_of(api, ids["mara"], ids["ravi"])["id"]
    path = pages["ravi"].path

    for data in ({"text": "forged"}, {"text": "forged", "form_key": "0" * 64}):
        resp = client.post(f"{path}/pairs/{pair}/agenda", data=data)
        assert resp.status_code == 403
        assert "Please reload your page" in text_of(resp)
    # the field of another person's page does not fit this one
    other = FORM_KEY.search(pages["mara"].open().get_data(as_text=True)).group(1)
    resp = client.post(f"{path}/pairs/{pair}/agenda", data={"text": "x", "form_key": other})
    assert resp.status_code == 403
    assert agenda(api, ids["mara"], ids["ravi"]) == []


def test_the_link_api(api, team):
    ids, _pages = team

    answer = api.get(f"/people/{ids['ines']}/one-on-ones-link").get_json()
    expires = datetime.fromisoformat(answer["expires_at"])
    assert expires - datetime.now(UTC) > timedelta(days=LINK_DAYS - 1)
    assert api.get("/people/424242/one-on-ones-link").status_code == 404


def test_the_page_changes_nothing_and_is_private(api, team):
    ids, pages = team
    resp = pages["ravi"].open()

    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    pair = pair_of(api, ids["mara"], ids["ravi"])
    assert pair["meetings"] == [] and pair["last_activity_at"] is None


def test_a_change_on_the_page_reaches_the_pairs_slack_thread(make_app, work):
    """Both people are on Slack: the thread is their group DM, and what one does on the
    web page is posted there (the item), then updated in place (discussed)."""
    with SlackStub() as stub:
        app = make_app(slack_signing_secret=SIGNING_SECRET, slack_bot_token=BOT_TOKEN,
                       slack_api_base_url=stub.base_url)
        client = app.test_client()
        api = ApiClient(client, ADMIN_TOKEN)
        mara = person(api, "Mara Manager", "mara@example.com", slack_user_id="UMARA")
        ravi = person(api, "Ravi Report", "ravi@example.com", "mara@example.com",
                      slack_user_id="URAVI")
        page = Browser(client, page_path(api, ravi))
        pair = pair_of(api, mara, ravi)["id"]

        page.ok(f"pairs/{pair}/agenda", text="Quarterly goals")
        work()
        thread = stub.posts_in(stub.group_dm("UMARA", "URAVI"))
        posted = [m for m in thread if "Quarterly goals" in m.text]
        assert len(posted) == 1, [m.text for m in thread]
        assert "also in your Slack thread" in page.text()

        item = agenda(api, mara, ravi)[0]["id"]
        page.ok(f"items/{item}/discussed")
        work()
        assert posted[0].updates, "the item's message was not updated"
        assert "iscussed" in posted[0].updates[-1]["text"]


def test_a_forms_address_opened_as_a_link_gets_the_pages_own_error(api, client, team):
    ids, pages = team
    pair = pair_of(api, ids["mara"], ids["ravi"])["id"]

    resp = client.get(f"{pages['ravi'].path}/pairs/{pair}/agenda")
    assert resp.status_code == 405
    assert "Open your page from its link" in text_of(resp)
    resp = client.post(f"{pages['ravi'].path}/pairs/not-a-number/agenda")
    assert resp.status_code == 404
    assert "We couldn't find this page" in text_of(resp)
