"""The fake Bot API server against the real python-telegram-bot client: polling, handlers, refusals, threads."""

from __future__ import annotations

import asyncio
import struct
import time
import zlib
from collections.abc import Awaitable, Callable

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, EndPointNotFound, InvalidToken
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from tests.fake_telegram import BOT_ID, TOKEN, FakeBotApi

USER = 42
GROUP = -1001


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(item.title(), callback_data=item) for item in data]])


def png(width: int, height: int) -> bytes:
    """A valid (tiny) PNG header with the given size: what the fake reads the photo size from."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", zlib.crc32(header))


def build_app(api: FakeBotApi) -> Application:  # type: ignore[type-arg]
    """A tiny bot: /start replies with a keyboard, a press answers the query and edits the text."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text("Approve?", reply_markup=keyboard("yes", "no"))

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer(f"got {query.data}")
        await query.edit_message_text(f"Decision: {query.data}")

    app = ApplicationBuilder().token(TOKEN).base_url(api.base_url).base_file_url(api.base_file_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed, pattern=r"^(yes|no)$"))
    return app


async def run_bot(api: FakeBotApi, scenario: Callable[[], Awaitable[None]]) -> float:
    """Run the bot around `scenario` with a 10 s long poll; return how long stopping the bot and server took."""
    app = build_app(api)
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=10)
        await app.start()
        try:
            await scenario()
        finally:  # stop even when the scenario failed, so that its error is the one reported
            started = time.monotonic()
            await app.updater.stop()
            await app.stop()
    await api.stop()
    return time.monotonic() - started


def test_command_reaches_the_handler_and_a_press_answers_and_edits() -> None:
    async def main() -> None:
        api = FakeBotApi()
        await api.start()

        async def scenario() -> None:
            api.send_text("/start", user_id=USER)
            await api.wait_for(lambda: len(api.sent(USER)) == 1)
            message = api.sent(USER)[0]
            assert (message.text, message.buttons()) == ("Approve?", [("Yes", "yes"), ("No", "no")])
            assert message.reply_to_message_id is None  # private chats are not quoted
            api.press(message, "no", user_id=USER)
            await api.wait_for(lambda: message.edits == 1)
            # the edit omitted reply_markup, so the keyboard is gone, as on Telegram
            assert (message.text, message.reply_markup, message.buttons()) == ("Decision: no", None, [])
            assert [answer["text"] for answer in api.answers] == ["got no"]

        stop_seconds = await run_bot(api, scenario)
        assert stop_seconds < 2.0, "a waiting long poll must not hold up the shutdown"
        assert api.all_updates_confirmed()
        assert [call.method for call in api.calls][:2] == ["getMe", "deleteWebhook"]
        assert [call.params["text"] for call in api.calls_of("sendmessage")] == ["Approve?"]

    asyncio.run(main())


def test_group_reply_quotes_the_command_and_a_press_carries_the_message() -> None:
    async def main() -> None:
        api = FakeBotApi()
        await api.start()

        async def scenario() -> None:
            api.send_text("/start@tuner_test_bot now", user_id=USER, chat_id=GROUP)
            await api.wait_for(lambda: len(api.sent(GROUP)) == 1)
            reply = api.sent(GROUP)[0]
            # PTB quotes in groups: the reply (the chat's message 2) answers the command (its message 1)
            assert (reply.message_id, reply.reply_to_message_id) == (2, 1)
            api.press(reply, "forged:data", user_id=7)  # no handler matches: nobody answers
            await api.wait_for(api.all_updates_confirmed)

        await run_bot(api, scenario)
        assert api.answers == [] and api.message(GROUP, 2).edits == 0

    asyncio.run(main())


def test_press_payload_parses_as_the_full_message() -> None:
    async def main() -> None:
        async with FakeBotApi() as api, Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as bot:
            first = await bot.send_message(USER, "first")
            photo = await bot.send_photo(
                USER, photo=png(640, 480), caption="chart", reply_markup=keyboard("ok"), reply_to_message_id=1
            )
            assert api.sent(USER)[1].photo == png(640, 480)
            assert (photo.photo[-1].width, photo.photo[-1].height, photo.caption) == (640, 480, "chart")
            api.press(api.message(USER, photo.message_id), "ok", user_id=USER, username="alice")
            api.press_raw(GROUP, 999, "x" * 100, user_id=7)
            updates = await bot.get_updates(timeout=0)
            query, raw = updates[0].callback_query, updates[1].callback_query
            assert query is not None and raw is not None
            assert (query.from_user.username, query.data) == ("alice", "ok")
            shown = query.message
            assert isinstance(shown, Message) and shown.from_user is not None and shown.from_user.id == BOT_ID
            assert (shown.caption, shown.photo[-1].width, shown.reply_markup) == ("chart", 640, keyboard("ok"))
            assert shown.reply_to_message is not None and shown.reply_to_message.text == first.text
            assert raw.message is not None and (raw.message.chat.id, raw.message.message_id) == (GROUP, 999)
            assert not api.all_updates_confirmed()
            await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
            assert api.all_updates_confirmed()
            await bot.answer_callback_query(query.id)
            assert api.answers == [{"callback_query_id": query.id}]

    asyncio.run(main())


async def _not_modified(bot: Bot) -> None:
    await bot.send_message(USER, "same", reply_markup=keyboard("a"))
    await bot.edit_message_text("same", USER, 1, reply_markup=keyboard("a"))


async def _markup_not_modified(bot: Bot) -> None:
    await bot.send_message(USER, "x", reply_markup=keyboard("a"))
    await bot.edit_message_reply_markup(USER, 1, reply_markup=keyboard("a"))


async def _answered_twice(bot: Bot, api: FakeBotApi) -> None:
    api.press_raw(USER, 1, "a", user_id=USER)
    query = (await bot.get_updates(timeout=0))[0].callback_query
    assert query is not None
    await bot.answer_callback_query(query.id)
    await bot.answer_callback_query(query.id)


async def _edit_photo_text(bot: Bot, api: FakeBotApi) -> None:
    await bot.send_photo(USER, png(1, 1), caption="chart")
    await bot.edit_message_text("new", USER, 1)


async def _long_answer(bot: Bot, api: FakeBotApi) -> None:
    api.press_raw(USER, 1, "a", user_id=USER)
    query = (await bot.get_updates(timeout=0))[0].callback_query
    assert query is not None
    await bot.answer_callback_query(query.id, "x" * 201, show_alert=True)


REFUSALS: dict[str, tuple[Callable[[Bot, FakeBotApi], Awaitable[object]], str]] = {
    "empty text": (lambda bot, api: bot.send_message(USER, " \n"), "Message text is empty"),
    "text too long": (lambda bot, api: bot.send_message(USER, "x" * 4097), "Message is too long"),
    "callback data over 64 bytes": (
        lambda bot, api: bot.send_message(USER, "x", reply_markup=keyboard("é" * 33)),
        "Button_data_invalid",
    ),
    "empty callback data": (
        lambda bot, api: bot.send_message(USER, "x", reply_markup=keyboard("")),
        "Button_data_invalid",
    ),
    "button without an action": (
        lambda bot, api: bot.send_message(USER, "x", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A")]])),
        "text buttons are unallowed",
    ),
    "unknown reply target": (
        lambda bot, api: bot.send_message(USER, "x", reply_to_message_id=5),
        "Message to be replied not found",
    ),
    "caption too long": (
        lambda bot, api: bot.send_photo(USER, png(1, 1), caption="x" * 1025),
        "Message caption is too long",
    ),
    "edit of an unknown message": (lambda bot, api: bot.edit_message_text("x", USER, 9), "Message to edit not found"),
    "edit without changes": (lambda bot, api: _not_modified(bot), "Message is not modified: specified new message"),
    "markup edit without changes": (lambda bot, api: _markup_not_modified(bot), "Message is not modified"),
    "unknown callback query": (
        lambda bot, api: bot.answer_callback_query("123"),
        "Query is too old and response timeout expired or query id is invalid",
    ),
    "callback query answered twice": (_answered_twice, "Query is too old"),
    "unescaped < in html": (
        lambda bot, api: bot.send_message(USER, "1 < 2", parse_mode="HTML"),
        "Can't parse entities",
    ),
    "unclosed html tag": (lambda bot, api: bot.send_message(USER, "<b>x", parse_mode="HTML"), "Can't parse entities"),
    "unsupported html tag": (
        lambda bot, api: bot.send_message(USER, "a<br>b", parse_mode="HTML"),
        "unsupported or unexpected tag",
    ),
    "edit of a photo's text": (_edit_photo_text, "There is no text in the message to edit"),
    "photo by an unknown file id": (lambda bot, api: bot.send_photo(USER, "AgACAgIAAx"), "Wrong file identifier"),
    "command with capitals": (lambda bot, api: bot.set_my_commands([("Approve", "x")]), "Bot_command_invalid"),
    "callback answer over 200 characters": (_long_answer, "Message_too_long"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_refused_requests_raise_bad_request_like_telegram(case: str) -> None:
    request, message = REFUSALS[case]

    async def main() -> None:
        async with FakeBotApi() as api, Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as bot:
            with pytest.raises(BadRequest, match=message):  # PTB drops "Bad Request: " and capitalises the rest
                await request(bot, api)

    asyncio.run(main())


def test_limits_are_inclusive_and_an_empty_keyboard_removes_the_markup() -> None:
    async def main() -> None:
        async with FakeBotApi() as api, Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as bot:
            await bot.send_message(USER, "x" * 4096, reply_markup=keyboard("é" * 32))
            await bot.send_message(USER, "<b>bold</b> &lt; 2", parse_mode="HTML", reply_to_message_id=1)
            edited = await bot.edit_message_reply_markup(USER, 1, reply_markup=InlineKeyboardMarkup([]))
            assert (
                isinstance(edited, Message)
                and edited.reply_markup is None
                and api.message(USER, 1).reply_markup is None
            )
            assert [(m.message_id, m.reply_to_message_id) for m in api.sent()] == [(1, None), (2, 1)]

    asyncio.run(main())


def test_wrong_token_unknown_method_and_commands() -> None:
    async def main() -> None:
        async with FakeBotApi() as api:
            with pytest.raises(InvalidToken, match="rejected by the server"):
                async with Bot("1:wrong", base_url=api.base_url):
                    pass
            async with Bot(TOKEN, base_url=api.base_url) as bot:
                with pytest.raises(EndPointNotFound):
                    await bot.do_api_request("noSuchMethod")
                assert await bot.set_my_commands([("approve", "Review a proposal"), ("status", "Show status")])
                assert [c.command for c in await bot.get_my_commands()] == ["approve", "status"]
                assert api.my_commands[0] == {"command": "approve", "description": "Review a proposal"}
                me = await bot.get_me()
                assert (me.id, me.is_bot, me.username, me.can_join_groups) == (BOT_ID, True, "tuner_test_bot", True)

    asyncio.run(main())


def test_form_json_and_query_parameters_are_decoded() -> None:
    async def main() -> None:
        async with FakeBotApi() as api, httpx.AsyncClient(base_url=f"{api.base_url}{TOKEN}/") as client:
            markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
            form = {
                "chat_id": "5",
                "text": "12",
                "reply_markup": '{"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}',
            }
            assert (await client.post("sendMessage", data=form)).json()["result"]["text"] == "12"
            assert (
                await client.post("SENDMESSAGE", json={"chat_id": 5, "text": "hi", "reply_markup": markup})
            ).is_success
            assert (await client.get("sendMessage", params={"chat_id": "5", "text": "via GET"})).is_success
            failure = await client.post("sendMessage", data={"chat_id": "5"})
            assert (failure.status_code, failure.json()) == (
                400,
                {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"},
            )
            not_found = await client.post("nope")
            assert (not_found.status_code, not_found.json()["description"]) == (404, "Not Found")
            unauthorized = await client.post(f"{api.base_url}1:wrong/getMe")
            assert (unauthorized.status_code, unauthorized.json()["description"]) == (401, "Unauthorized")
        assert api.calls[0].params == {"chat_id": 5, "text": "12", "reply_markup": markup}
        assert api.calls[1].method == "SENDMESSAGE" and api.calls[1].params["reply_markup"] == markup
        assert [m.text for m in api.sent(5)] == ["12", "hi", "via GET"]
        # refused, unknown and unauthorised calls are recorded too
        assert [c.method for c in api.calls] == [
            "sendMessage",
            "SENDMESSAGE",
            "sendMessage",
            "sendMessage",
            "nope",
            "getMe",
        ]

    asyncio.run(main())


def test_long_poll_wakes_on_an_update_and_stop_releases_it() -> None:
    async def main() -> None:
        api = FakeBotApi()
        await api.start()
        async with Bot(TOKEN, base_url=api.base_url) as bot:
            started = time.monotonic()
            poll = asyncio.create_task(bot.get_updates(timeout=10))
            await asyncio.sleep(0.1)
            api.send_text("hello", user_id=USER)
            updates = await poll
            assert time.monotonic() - started < 2.0
            assert updates[0].message is not None and updates[0].message.text == "hello"
            assert updates[0].message.entities == ()
            waiting = asyncio.create_task(bot.get_updates(offset=updates[0].update_id + 1, timeout=30))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            await api.stop()
            assert await waiting == ()
            assert time.monotonic() - started < 2.0 and api.all_updates_confirmed()

    asyncio.run(main())


def test_delete_webhook_can_drop_pending_updates() -> None:
    async def main() -> None:
        async with FakeBotApi() as api, Bot(TOKEN, base_url=api.base_url) as bot:
            api.send_text("old", user_id=USER)
            await bot.delete_webhook(drop_pending_updates=True)
            assert api.all_updates_confirmed() and await bot.get_updates(timeout=0) == ()

    asyncio.run(main())


def test_wait_for_reports_the_last_calls_on_timeout() -> None:
    async def main() -> None:
        async with FakeBotApi() as api, Bot(TOKEN, base_url=api.base_url) as bot:
            await bot.send_photo(USER, png(2, 2))
            with pytest.raises(AssertionError, match=r"getMe .*\n  sendPhoto .*<\d+ bytes>"):
                await api.wait_for(lambda: False, timeout=0.05)

    asyncio.run(main())


def test_thread_mode_serves_a_client_in_another_event_loop() -> None:
    api = FakeBotApi()
    api.start_in_thread()
    try:

        async def client() -> None:
            async with Bot(TOKEN, base_url=api.base_url) as bot:
                poll = asyncio.create_task(bot.get_updates(timeout=10))
                await asyncio.sleep(0.1)
                api.send_text("/start", user_id=USER)  # injected from this thread, not the server's
                (update,) = await poll
                assert update.message is not None
                await update.message.reply_text("hi")
                await bot.get_updates(offset=update.update_id + 1, timeout=0)

        started = time.monotonic()
        asyncio.run(client())
        assert time.monotonic() - started < 3.0
        api.wait_for_sync(lambda: len(api.sent(USER)) == 1, timeout=1)
        assert api.sent(USER)[0].reply_to_message_id is None and api.all_updates_confirmed()
    finally:
        api.stop_thread()
    with pytest.raises(RuntimeError, match="not running"):
        api.base_url  # noqa: B018
