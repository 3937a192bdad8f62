"""A fake Telegram Bot API server on 127.0.0.1 that the real python-telegram-bot client talks to over HTTP.

Tests inject updates (`send_text`, `press`), the client long-polls them with getUpdates, and every call is
recorded. Requests Telegram refuses (empty or too long text, bad callback data, unknown reply or edit targets,
unmodified edits, stale callback queries, broken HTML) get Telegram's status and description, so the client
raises the exception a bot would see in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

TOKEN = "123456789:TEST-token_for-the-fake-server"
BOT_ID = 123456789
BOT_USER: dict[str, Any] = {"id": BOT_ID, "is_bot": True, "first_name": "Tuner", "username": "tuner_test_bot"}

_GET_ME = BOT_USER | {"can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
_TEXT_PARAMS = {"text", "caption", "parse_mode", "callback_query_id", "url", "language_code"}  # never JSON-decoded
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a current "
    "content and reply markup of the message"
)
_HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre"}
_HTML_TAGS |= {"blockquote", "tg-emoji"}
_TAG = re.compile(r"<(/?)([^\s>/]*)[^>]*>")


class _Refused(Exception):
    """A request Telegram refuses, with the HTTP status and Telegram's description."""

    def __init__(self, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.status, self.description = status, f"Bad Request: {description}" if status == 400 else description


@dataclass
class FakeMessage:
    """A message the bot sent (sendMessage / sendPhoto), in its current state after edits."""

    chat_id: int
    message_id: int
    text: str | None  # the text, or the caption of a photo
    reply_markup: dict[str, Any] | None  # InlineKeyboardMarkup as last sent or edited, None when removed
    photo: bytes | None  # the uploaded photo
    reply_to_message_id: int | None
    edits: int  # successful edits (text or markup)
    date: int = 0  # unix seconds

    def buttons(self) -> list[tuple[str, str]]:
        """(text, callback_data) of every inline button, row by row; callback_data is "" for URL buttons."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(button["text"], button.get("callback_data", "")) for row in rows for button in row]


@dataclass
class Call:
    """One API call: the method as in the URL (case preserved) and its decoded parameters."""

    method: str
    params: dict[str, Any]


def _decode(name: str, value: str) -> Any:
    """A form value: PTB sends strings as they are and JSON-encodes everything else (ints, dicts, lists)."""
    if name in _TEXT_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _chat_id(params: dict[str, Any]) -> int:
    chat_id = params.get("chat_id")
    if isinstance(chat_id, bool) or not isinstance(chat_id, int):
        raise _Refused("chat_id is empty" if chat_id in (None, "") else "chat not found")
    return chat_id


def _checked_text(value: Any, parse_mode: Any, *, caption: bool) -> str | None:
    """A text (1-4096 characters as displayed) or caption (0-1024; empty means none), checked like Telegram."""
    if caption and value in (None, ""):
        return None
    visible = value if isinstance(value, str) else ""
    if str(parse_mode).lower() == "html":
        open_tags: list[str] = []
        for match in _TAG.finditer(visible):
            closing, name = match.group(1), match.group(2).lower()
            if name not in _HTML_TAGS or (closing and (not open_tags or open_tags.pop() != name)):
                offset = len(visible[: match.start()].encode())
                raise _Refused(f"can't parse entities: Unsupported or unexpected tag at byte offset {offset}")
            if not closing:
                open_tags.append(name)
        visible = _TAG.sub("", visible)
        if open_tags or "<" in visible:
            raise _Refused("can't parse entities: Unclosed start tag (a literal '<' must be written &lt;)")
        visible = html.unescape(visible)
    if not caption and not visible.strip():
        raise _Refused("message text is empty")
    if len(visible) > (1024 if caption else 4096):
        raise _Refused("message caption is too long" if caption else "message is too long")
    return str(value)


def _markup(params: dict[str, Any]) -> dict[str, Any] | None:
    """The reply_markup parameter, checked; an inline keyboard without buttons means no keyboard."""
    markup = params.get("reply_markup")
    if markup is not None and not isinstance(markup, dict):
        raise _Refused("can't parse reply keyboard markup JSON object")
    rows = (markup or {}).get("inline_keyboard")
    if rows is None:  # no markup, a reply keyboard, or {} (how PTB sends an inline keyboard without buttons)
        return markup or None
    for button in (button for row in rows for button in row):
        if "callback_data" in button and not 1 <= len(str(button["callback_data"]).encode()) <= 64:
            raise _Refused("BUTTON_DATA_INVALID")
        if not set(button) - {"text"}:
            raise _Refused("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
    return markup if any(rows) else None


def _user(user_id: int, username: str) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": username.title(), "username": username}


class FakeBotApi:
    """The fake server: its lifecycle, update injection, and the record of calls, bot messages and answers."""

    def __init__(self, token: str = TOKEN) -> None:
        self._token = token
        self.calls: list[Call] = []
        self.answers: list[dict[str, Any]] = []  # answerCallbackQuery params that were accepted
        self.my_commands: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # the test thread injects while the server's loop serves
        self._updates: list[dict[str, Any]] = []  # injected and not yet confirmed by an offset
        self._update_ids, self._query_ids = itertools.count(1), itertools.count(7_000_000_001)
        self._open_queries: set[str] = set()
        self._messages: dict[tuple[int, int], FakeMessage] = {}
        self._user_messages: dict[tuple[int, int], dict[str, Any]] = {}  # so that bots can reply to them
        self._last_message_id: dict[int, int] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup = asyncio.Event()
        self._stopping, self._port = False, 0
        self._thread: threading.Thread | None = None
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getme": lambda _: _GET_ME,
            "deletewebhook": self._delete_webhook,
            "setmycommands": self._set_my_commands,
            "getmycommands": lambda _: self.my_commands,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "editmessagetext": lambda params: self._edit(params, text=True),
            "editmessagereplymarkup": lambda params: self._edit(params, text=False),
            "answercallbackquery": self._answer_callback_query,
        }

    async def start(self) -> None:
        """Serve on 127.0.0.1 on a free port, in the running event loop."""
        if self._runner is not None:
            raise RuntimeError("the fake Bot API server is already running")
        app = web.Application(client_max_size=50 * 2**20)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._port, self._runner, self._loop = runner.addresses[0][1], runner, asyncio.get_running_loop()
        self._wakeup, self._stopping = asyncio.Event(), False

    async def stop(self) -> None:
        """Release any waiting long poll, then close the server. The records stay readable."""
        if self._runner is not None:
            self._stopping = True
            self._wakeup.set()
            await self._runner.cleanup()
            self._runner, self._loop = None, None

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def start_in_thread(self) -> None:
        """Serve from a background thread with its own event loop (for a bot that runs in a subprocess)."""
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.start())
            finally:
                ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-telegram", daemon=True)
        self._thread.start()
        ready.wait()
        if self._runner is None:
            raise RuntimeError("the fake Bot API server failed to start in its thread: see the traceback above")

    def stop_thread(self) -> None:
        """Stop the server started by `start_in_thread` and join its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            raise RuntimeError("the fake Bot API server is not running in a thread")
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None

    @property
    def base_url(self) -> str:
        """For `ApplicationBuilder().base_url(...)`: "http://127.0.0.1:PORT/bot" (PTB appends the token)."""
        return f"{self._origin()}/bot"

    @property
    def base_file_url(self) -> str:
        """For `ApplicationBuilder().base_file_url(...)` (the fake serves no files)."""
        return f"{self._origin()}/file/bot"

    def _origin(self) -> str:
        if self._runner is None:
            raise RuntimeError("the fake Bot API server is not running: call start() first")
        return f"http://127.0.0.1:{self._port}"

    def send_text(self, text: str, *, user_id: int, chat_id: int | None = None, username: str = "trader") -> int:
        """Inject a user's `message` update: a private chat, or a group chat when chat_id differs from user_id."""
        chat_id = user_id if chat_id is None else chat_id
        if chat_id == user_id:
            chat = {"id": chat_id, "type": "private", "first_name": username.title(), "username": username}
        else:
            chat = {"id": chat_id, "type": "group", "title": "Test group"}
        self._chats[chat_id] = chat
        message: dict[str, Any] = {"message_id": self._new_message_id(chat_id), "date": int(time.time()), "chat": chat}
        message |= {"from": _user(user_id, username), "text": text}
        command = text.split(maxsplit=1)[0] if text.startswith("/") else ""
        if len(command) > 1:  # entity lengths count UTF-16 code units
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}
            ]
        self._user_messages[(chat_id, message["message_id"])] = message
        return self._inject({"message": message})

    def press(self, message: FakeMessage, data: str, *, user_id: int, username: str = "trader") -> int:
        """Inject a `callback_query` update: a press with `data` (used as given) on the bot message as it is now."""
        return self._inject_query(self._message_dict(message), data, _user(user_id, username))

    def press_raw(self, chat_id: int, message_id: int, data: str, *, user_id: int) -> int:
        """Inject a `callback_query` update for any (chat, message) ids, with a minimal message."""
        message = {"message_id": message_id, "chat": self._chat(chat_id), "date": int(time.time()), "text": ""}
        return self._inject_query(message, data, _user(user_id, "trader"))

    def _inject_query(self, message: dict[str, Any], data: str, user: dict[str, Any]) -> int:
        with self._lock:
            query_id = str(next(self._query_ids))
            self._open_queries.add(query_id)
        query = {"id": query_id, "from": user, "message": message, "chat_instance": f"ci{message['chat']['id']}"}
        return self._inject({"callback_query": query | {"data": data}})

    def _inject(self, payload: dict[str, Any]) -> int:
        with self._lock:
            update_id = next(self._update_ids)
            self._updates.append({"update_id": update_id, **payload})
        if (loop := self._loop) is not None:
            with contextlib.suppress(RuntimeError):  # the server's loop closed meanwhile: nobody is polling
                loop.call_soon_threadsafe(self._wakeup.set)  # also right from the server's own loop
        return update_id

    def calls_of(self, method: str) -> list[Call]:
        """The calls of one method (case-insensitive, as Telegram), in arrival order."""
        return [call for call in self.calls if call.method.lower() == method.lower()]

    def sent(self, chat_id: int | None = None) -> list[FakeMessage]:
        """The bot's messages in send order, of one chat or of all."""
        return [message for message in list(self._messages.values()) if chat_id in (None, message.chat_id)]

    def message(self, chat_id: int, message_id: int) -> FakeMessage:
        """One bot message by its ids (KeyError when the bot sent no such message)."""
        return self._messages[(chat_id, message_id)]

    def all_updates_confirmed(self) -> bool:
        """True when every injected update has been confirmed by a later getUpdates offset."""
        with self._lock:
            return not self._updates

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        """Poll `predicate` every 10 ms; AssertionError listing the last calls when it is still false at `timeout` s."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(self._timeout_message(timeout))
            await asyncio.sleep(0.01)

    def wait_for_sync(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        """`wait_for` for a thread other than the server's (thread mode)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(self._timeout_message(timeout))
            time.sleep(0.01)

    def _timeout_message(self, timeout: float) -> str:
        lines = []
        for call in self.calls[-10:]:
            params = {key: f"<{len(v)} bytes>" if isinstance(v, bytes) else v for key, v in call.params.items()}
            lines.append(f"  {call.method} {json.dumps(params, ensure_ascii=False, default=str)[:200]}")
        return f"condition still false after {timeout} s; last calls:\n" + ("\n".join(lines) or "  (none)")

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = {key: _decode(key, value) for key, value in request.query.items()}
        if request.content_type == "application/json" and request.body_exists:
            params.update(await request.json())
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    params[key] = value.file.read()
                else:
                    params[key] = _decode(key, value if isinstance(value, str) else bytes(value).decode())
        self.calls.append(Call(method, params))
        try:
            if request.match_info["token"] != self._token:
                raise _Refused("Unauthorized", 401)
            if method.lower() == "getupdates":
                result = await self._get_updates(params)
            elif method.lower() in self._methods:
                result = self._methods[method.lower()](params)
            else:
                raise _Refused("Not Found", 404)
        except _Refused as exc:
            body = {"ok": False, "error_code": exc.status, "description": exc.description}
            return web.json_response(body, status=exc.status)
        return web.json_response({"ok": True, "result": result})

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 100)
        with self._lock:
            self._updates = [update for update in self._updates if update["update_id"] >= offset]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(params.get("timeout") or 0)
        while True:
            self._wakeup.clear()
            with self._lock:
                pending = self._updates[:limit]
            if pending or self._stopping or loop.time() >= deadline:
                return pending
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), deadline - loop.time())

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            with self._lock:
                self._updates.clear()
        return True

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _Refused("can't parse commands JSON object")
        valid = (
            re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command"))) and str(c.get("description")).strip()
            for c in commands
        )
        if not all(valid):
            raise _Refused("BOT_COMMAND_INVALID")
        self.my_commands = commands
        return True

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _chat_id(params)
        text = _checked_text(params.get("text"), params.get("parse_mode"), caption=False)
        return self._store(chat_id, params, text, None)

    def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, photo = _chat_id(params), params.get("photo")
        if not isinstance(photo, bytes):
            raise _Refused("wrong file identifier/HTTP URL specified")
        if not photo:
            raise _Refused("file must be non-empty")
        caption = _checked_text(params.get("caption"), params.get("parse_mode"), caption=True)
        return self._store(chat_id, params, caption, photo)

    def _store(self, chat_id: int, params: dict[str, Any], text: str | None, photo: bytes | None) -> dict[str, Any]:
        markup = _markup(params)
        reply = params["reply_parameters"] if isinstance(params.get("reply_parameters"), dict) else {}
        reply_to = reply.get("message_id", params.get("reply_to_message_id"))
        if reply_to is not None and (chat_id, reply_to) not in self._messages.keys() | self._user_messages.keys():
            if not reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply")):
                raise _Refused("message to be replied not found")
            reply_to = None
        message_id = self._new_message_id(chat_id)
        message = FakeMessage(chat_id, message_id, text, markup, photo, reply_to, 0, int(time.time()))
        self._messages[(chat_id, message_id)] = message
        return self._message_dict(message)

    def _edit(self, params: dict[str, Any], *, text: bool) -> dict[str, Any]:
        chat_id, message_id = _chat_id(params), params.get("message_id")
        message = self._messages.get((chat_id, message_id)) if isinstance(message_id, int) else None
        if message is None:
            raise _Refused("message to edit not found")
        if text and message.photo is not None:
            raise _Refused("there is no text in the message to edit")
        new_text = _checked_text(params.get("text"), params.get("parse_mode"), caption=False) if text else message.text
        markup = _markup(params)  # omitted: the keyboard goes, as on Telegram
        if new_text == message.text and markup == message.reply_markup:
            raise _Refused(_NOT_MODIFIED)
        message.text, message.reply_markup, message.edits = new_text, markup, message.edits + 1
        return self._message_dict(message)

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        with self._lock:
            if params.get("callback_query_id") not in self._open_queries:
                raise _Refused("query is too old and response timeout expired or query ID is invalid")
            if len(params.get("text") or "") > 200:
                raise _Refused("MESSAGE_TOO_LONG")
            self._open_queries.remove(params["callback_query_id"])
        self.answers.append(params)
        return True

    def _new_message_id(self, chat_id: int) -> int:
        """The next id of a chat's single sequence, shared by the users' and the bot's messages."""
        with self._lock:
            self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
            return self._last_message_id[chat_id]

    def _chat(self, chat_id: int) -> dict[str, Any]:
        return self._chats.get(chat_id) or {"id": chat_id, "type": "private" if chat_id > 0 else "group"}

    def _message_dict(self, message: FakeMessage, *, with_reply: bool = True) -> dict[str, Any]:
        """The Message object Telegram shows for a bot message as it stands now."""
        result: dict[str, Any] = {"message_id": message.message_id, "date": message.date, "from": BOT_USER}
        result["chat"] = self._chat(message.chat_id)
        if message.photo is None:
            result["text"] = message.text
        else:
            is_png = message.photo.startswith(b"\x89PNG") and len(message.photo) >= 24
            width, height = struct.unpack(">II", message.photo[16:24]) if is_png else (0, 0)
            file_id = f"photo-{message.chat_id}-{message.message_id}"
            size = {"file_id": file_id, "file_unique_id": file_id, "width": width, "height": height}
            result["photo"] = [size | {"file_size": len(message.photo)}]
            if message.text is not None:
                result["caption"] = message.text
        if message.reply_markup is not None:
            result["reply_markup"] = message.reply_markup
        key = (message.chat_id, message.reply_to_message_id or 0)
        if with_reply and key in self._messages:
            result["reply_to_message"] = self._message_dict(self._messages[key], with_reply=False)
        elif with_reply and key in self._user_messages:
            result["reply_to_message"] = self._user_messages[key]
        return result
