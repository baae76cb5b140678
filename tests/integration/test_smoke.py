from tests.support.chat import WebChat
from tests.support.factories import invite, make_session, token_of


def test_stay_interview_runs_to_close(api, client, library):
    session = make_session(api)
    link = invite(api, session["id"])["link"]
    chat = WebChat(client, token_of(link)).open()
    assert chat.status == "consent"
    chat.assert_reply("Shall we begin?")
    chat.choose("accept")
    assert chat.status == "in_progress"
    for _ in range(40):
        if chat.status == "completed":
            break
        chat.say("I value the people I work with and the freedom to choose how I solve "
                 "problems, and my manager backs me when things get hard.")
    assert chat.status == "completed"
    chat.assert_reply("Thank you")
