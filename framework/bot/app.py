"""The Telegram bot: a python-telegram-bot ``Application`` on long polling, with approval buttons.

Every update passes :meth:`ApprovalBot.authorise` first (a ``TypeHandler`` in group -1), which asks the
desk's :class:`~framework.desk.Access` policy: the sender must be in ``allowed_user_ids`` *and* the chat in
``allowed_chat_ids``, or the update is refused, logged and stops there. Tuning runs in a worker thread
(the bot keeps answering meanwhile); decisions run one at a time through
:class:`~framework.desk.TuningDesk`, i.e. the approval core; the schedule is the desk's too. Texts and
buttons come from :mod:`framework.bot.messages` and :mod:`framework.bot.buttons`.

The post-apply audit runs in a worker thread too (``/tune audit``, and before every scheduled tune, which
it never stops); a flagged version that is still live gets an alert with **Roll back**, whose press the
desk grants once, and only while the latest audit flags that version and it is live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from telegram import Bot, BotCommand, CallbackQuery, Message, ReplyParameters, Update, User
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    TypeHandler,
)

from framework.audit_report import AuditReport
from framework.bot.buttons import (
    ForgedButton,
    RollbackPress,
    item_keyboard,
    parse_press,
    rollback_keyboard,
    session_keyboard,
)
from framework.bot.messages import (
    HELP,
    alert_text,
    audit_failure_text,
    audit_text,
    config_text,
    decision_note,
    failure_text,
    history_text,
    press_answer,
    progress_text,
    refusal_answer,
    review_text,
    rollback_answer,
    rollback_note,
    rollback_refusal,
    status_text,
    summary_text,
    without_paths,
)
from framework.desk import SessionView, TuningDesk
from framework.errors import PlaybookTunerError
from framework.formatting import utc_text
from framework.report import equity_chart_png, session_charts

log = logging.getLogger("framework.bot")

SCHEDULED_JOB = "scheduled-tune"
COMMANDS = (
    BotCommand("tune", "tune now; or: status, show, apply, audit, history, rollback [version], config"),
    BotCommand("help", "what this bot does"),
)

Context = ContextTypes.DEFAULT_TYPE
AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class ApprovalBot:
    """The handlers of one bot, around one :class:`TuningDesk`."""

    def __init__(self, desk: TuningDesk):
        self.desk = desk
        self.push_chat = desk.settings.telegram.push_chat_id
        self._decisions = asyncio.Lock()
        self._tuning = False
        self._auditing = False
        self._file_names = desk.file_names()

    def register(self, app: AnyApplication) -> None:
        """Add the gate, the handlers and the error handler to ``app``."""
        app.add_handler(TypeHandler(Update, self.authorise), group=-1)
        app.add_handler(CommandHandler("tune", self.tune_command))
        app.add_handler(CommandHandler(["help", "start"], self.help_command))
        app.add_handler(CallbackQueryHandler(self.press))  # every button press, also forged ones
        app.add_error_handler(self.on_error)

    async def post_init(self, app: AnyApplication) -> None:
        """Register the commands with Telegram, warn about empty allow-lists, schedule the tuning job."""
        if self.desk.access.refuses_everyone:
            log.warning(
                "allowed_user_ids or allowed_chat_ids is empty in the [telegram] configuration: "
                "every update will be refused"
            )
        await app.bot.set_my_commands(list(COMMANDS))
        schedule = self.desk.schedule
        if not schedule.enabled:
            return
        if self.push_chat is None:
            log.warning("scheduled tuning is on but no chat is allowed to push sessions to: not scheduled")
            return
        if app.job_queue is None:
            raise PlaybookTunerError("scheduled tuning needs python-telegram-bot's job-queue extra")
        due = await asyncio.to_thread(self.desk.next_tune_due)
        first = max(timedelta(0), due - self.desk.clock())
        app.job_queue.run_repeating(self.scheduled_tune, interval=schedule.every, first=first, name=SCHEDULED_JOB)
        days = schedule.every / timedelta(days=1)
        log.info(
            "next scheduled tune at %s, then every %g days, pushed to chat %s", utc_text(due), days, self.push_chat
        )

    # --- the gate --------------------------------------------------------------------------------

    async def authorise(self, update: Update, context: Context) -> None:
        """Let an update through only when the desk's access policy allows its user in its chat; refuse
        everything else."""
        user, chat = update.effective_user, update.effective_chat
        if self.desk.access.allows(user.id if user else None, chat.id if chat else None):
            return
        kind = "button press" if update.callback_query else "message" if update.effective_message else "update"
        log.warning(
            "refused a %s from user %s in chat %s: not in allowed_user_ids and allowed_chat_ids",
            kind,
            user.id if user else None,
            chat.id if chat else None,
        )
        if update.callback_query:
            await update.callback_query.answer("You are not allowed to use this bot: nothing changed.", show_alert=True)
        raise ApplicationHandlerStop

    # --- commands --------------------------------------------------------------------------------

    async def help_command(self, update: Update, context: Context) -> None:
        if update.effective_message:
            await update.effective_message.reply_text(HELP)

    async def tune_command(self, update: Update, context: Context) -> None:
        """``/tune`` and its subcommands."""
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        args = [arg.lower() for arg in context.args or []]
        sub = args[0] if args else ""
        if sub == "":
            if self._tuning:
                await message.reply_text("A tuning run is already in progress; its summary follows when it is done.")
                return
            self._tuning = True
            context.application.create_task(
                self._tune_and_report(context.bot, message.chat_id, progress=True), update=update
            )
        elif sub == "status":
            await message.reply_text(status_text(await asyncio.to_thread(self.desk.status)))
        elif sub == "config":
            await message.reply_text(config_text(self.desk.settings))
        elif sub == "audit":
            if self._auditing:
                await message.reply_text("An audit is already running; its result follows when it is done.")
                return
            self._auditing = True
            context.application.create_task(self._audit_and_report(context.bot, message.chat_id), update=update)
        elif sub == "history":
            await message.reply_text(history_text(await asyncio.to_thread(self.desk.history)))
        elif sub == "apply":
            text = await self._decided(lambda: self.desk.apply(None, _actor(user)).message)
            await message.reply_text(text)
        elif sub == "rollback":
            await self._rollback(message, user, args[1:])
        elif sub == "show":
            await self._show_session(message, context.args[1] if context.args and len(context.args) > 1 else None)
        else:
            await message.reply_text(f"Unknown: /tune {' '.join(args)}\n\n{HELP}")

    async def _show_session(self, message: Message, session_id: str | None) -> None:
        """Send a session's summary again, with its buttons while it is pending (default: the newest pending)."""
        try:
            view = await asyncio.to_thread(self.desk.view, session_id)
        except PlaybookTunerError as exc:
            await message.reply_text(f"Nothing to show: {self._reason(exc)}")
            return
        await message.reply_text(summary_text(view), reply_markup=self._session_keyboard(view))

    async def _rollback(self, message: Message, user: User, args: list[str]) -> None:
        if len(args) > 1 or (args and not args[0].isdigit()):
            await message.reply_text("Usage: /tune rollback [version], e.g. /tune rollback 3")
            return
        version = int(args[0]) if args else None

        def rollback() -> str:
            actor = _actor(user)
            done = self.desk.rollback(version, actor, f"rollback from Telegram by {actor}")
            told = f"\n{done.freqtrade.line}" if done.freqtrade else ""
            return f"Rolled back to version {done.target}: the live playbook is now version {done.new}.{told}"

        await message.reply_text(await self._decided(rollback))

    async def _decided(self, decide: Callable[[], str]) -> str:
        """Run one decision in a worker thread, one at a time; a refusal is reported, not raised."""
        async with self._decisions:
            try:
                return await asyncio.to_thread(decide)
            except PlaybookTunerError as exc:
                return f"Nothing changed: {self._reason(exc)}"

    def _reason(self, error: Exception) -> str:
        """``error``'s message as a chat shows it: the bot's files by name, not by path."""
        return without_paths(str(error), self._file_names)

    # --- the post-apply audit ---------------------------------------------------------------------

    async def _audit_and_report(self, bot: Bot, chat_id: int) -> None:
        """``/tune audit``: run the audit in a worker thread, a message showing its steps and becoming the
        audit's text, then an alert with Roll back for each flagged version that is still live. The caller
        sets ``_auditing``."""
        try:
            board = await bot.send_message(chat_id, progress_text("auditing the applied versions"))
            try:
                report = await asyncio.to_thread(self.desk.audit, self._progress_reporter(board))
            except PlaybookTunerError as exc:
                await _show(board, audit_failure_text(str(exc)), None)
                return
            except Exception:
                await _show(board, audit_failure_text("internal error, see the bot's log"), None)
                raise
        finally:
            self._auditing = False
        await _show(board, audit_text(report), None)
        await self._push_alerts(bot, chat_id, report)

    async def _audit_before_tune(self, bot: Bot, chat_id: int) -> None:
        """The scheduled run's audit: alerts for flagged live versions pushed to ``chat_id``. It never stops
        the tune that follows: whatever goes wrong is logged."""
        if self._auditing:
            log.info("scheduled audit skipped: an audit is running")
            return
        self._auditing = True
        try:
            report = await asyncio.to_thread(self.desk.audit)
            await self._push_alerts(bot, chat_id, report)
        except PlaybookTunerError as exc:
            log.warning("scheduled audit failed, tuning anyway: %s", exc)
        except Exception:  # the tune must still run; the traceback is in the log
            log.exception("scheduled audit failed with an internal error, tuning anyway")
        finally:
            self._auditing = False

    async def _push_alerts(self, bot: Bot, chat_id: int, report: AuditReport) -> None:
        """An alert with Roll back for each version the audit flags that is still the live one."""
        for audit in report.flagged():
            if audit.version == report.live_version:
                await bot.send_message(chat_id, alert_text(audit), reply_markup=rollback_keyboard(audit.version))

    async def _roll_back(self, query: CallbackQuery, user: User, version: int) -> None:
        """A press of Roll back: the desk rolls ``version`` back if the latest audit still flags it and it is
        still live (one decision at a time); the alert then loses its button and says what was done."""
        try:
            async with self._decisions:
                done = await asyncio.to_thread(self.desk.roll_back_flagged, version, _actor(user))
        except PlaybookTunerError as exc:
            await query.answer(rollback_refusal(self._reason(exc), version), show_alert=True)
            return
        await query.answer(rollback_answer(done))
        message = query.message if isinstance(query.message, Message) else None
        if message is None:
            return
        report = await asyncio.to_thread(self.desk.latest_audit)
        audit = report.of(version) if report else None
        note = rollback_note(done, _name(user))
        await _show(message, alert_text(audit, note) if audit else f"{message.text or ''}\n\n{note}", None)

    # --- tuning ----------------------------------------------------------------------------------

    async def scheduled_tune(self, context: CallbackContext[Any, Any, Any, Any]) -> None:
        """The JobQueue's run: audit the applied versions (an alert for a flagged live one), then tune, and
        push the session to the configured chat if it has validated changes."""
        if self._tuning or self.push_chat is None:
            log.info("scheduled tune skipped: %s", "a tune is running" if self._tuning else "no chat to push to")
            return
        self._tuning = True
        try:
            await self._audit_before_tune(context.bot, self.push_chat)
        except BaseException:
            self._tuning = False
            raise
        await self._tune_and_report(context.bot, self.push_chat, progress=False)

    async def _tune_and_report(self, bot: Bot, chat_id: int, *, progress: bool) -> None:
        """Run a tune in a worker thread and send its summary, buttons and charts to ``chat_id``.

        With ``progress``, a message shows the pipeline's steps and becomes the summary. Without it (a
        scheduled run) only a session with validated changes is sent. The caller sets ``_tuning``.
        """
        board: Message | None = None
        try:
            if progress:
                board = await bot.send_message(chat_id, progress_text("starting a tuning run"))
            outcome = await asyncio.to_thread(self.desk.tune, self._progress_reporter(board))
        except PlaybookTunerError as exc:
            await _report_failure(bot, chat_id, board, str(exc))  # names the input file to fix, by its path
            return
        except Exception:
            await _report_failure(bot, chat_id, board, "internal error, see the bot's log")
            raise
        finally:
            self._tuning = False
        if board is None and not outcome.recommendations:
            log.info("scheduled tune %s: no validated changes, nothing pushed", outcome.session.id)
            return
        view = await asyncio.to_thread(self.desk.view, outcome.session.id)
        note = (
            f"Applied without review (human_review_required = false): {outcome.auto_applied.message}"
            if outcome.auto_applied
            else ""
        )
        text, keyboard = summary_text(view, note), self._session_keyboard(view)
        if board is not None:
            await _show(board, text, keyboard)
        else:
            await bot.send_message(chat_id, text, reply_markup=keyboard)
        contents = outcome.contents
        charts = await asyncio.to_thread(lambda: [(c.title, equity_chart_png(c)) for c in session_charts(contents)])
        for title, png in charts:
            await bot.send_photo(chat_id, png, caption=title)

    def _progress_reporter(self, board: Message | None) -> Callable[[str], None]:
        """A progress callback for the worker thread that edits ``board`` on the event loop."""
        if board is None:
            return lambda step: None
        loop = asyncio.get_running_loop()

        def report(step: str) -> None:
            edit = asyncio.run_coroutine_threadsafe(_show(board, progress_text(step), None), loop)
            try:
                edit.result(timeout=30)
            except Exception as exc:  # progress is a courtesy: a failed edit must not stop the tune
                log.warning("could not show progress %r: %s", step, exc)

        return report

    # --- buttons ---------------------------------------------------------------------------------

    async def press(self, update: Update, context: Context) -> None:
        """A button press: review, or a decision through the approval core; any data our buttons never
        carry is answered as refused, so no button keeps spinning."""
        query, user = update.callback_query, update.effective_user
        if query is None or user is None:
            return
        try:
            press = parse_press(query.data)
        except ForgedButton:
            log.warning("refused unknown button data %r from user %s", (query.data or "")[:80], user.id)
            await query.answer("This button is not one of this bot's: nothing changed.", show_alert=True)
            return
        if isinstance(press, RollbackPress):
            await self._roll_back(query, user, press.version)
            return
        message = query.message if isinstance(query.message, Message) else None
        try:
            if press.action == "review":
                view = await asyncio.to_thread(self.desk.view, press.session_id)
            else:
                async with self._decisions:
                    outcome = await asyncio.to_thread(
                        self.desk.decide, press.action, press.session_id, press.item_id, _actor(user)
                    )
                    view = await asyncio.to_thread(self.desk.view, press.session_id)
        except PlaybookTunerError as exc:
            await query.answer(refusal_answer(self._reason(exc), press.session_id, press.item_id), show_alert=True)
            return
        if press.action == "review":
            await self._review(query.answer, message, view)
            return
        await query.answer(press_answer(outcome, view))
        if press.item_id is None:
            summary = message
        else:
            if message is not None:
                rec = view.item(press.item_id)
                keyboard = item_keyboard(view.session.id, rec.id) if rec.status == "pending" else None
                await _show(message, review_text(view, rec), keyboard)
            summary = message.reply_to_message if message is not None else None
        if summary is not None:
            await _show(summary, summary_text(view, decision_note(outcome, _name(user))), self._session_keyboard(view))

    async def _review(self, answer: Callable[..., Any], summary: Message | None, view: SessionView) -> None:
        """One message per recommendation, replying to the summary, with Approve / Reject on pending ones."""
        if summary is None:
            await answer(f"This summary is too old to reply to; send /tune show {view.session.id}", show_alert=True)
            return
        if not view.pending():
            await answer(f"Session {view.session.id} is {view.session.status}: nothing left to review.")
            await _show(summary, summary_text(view), self._session_keyboard(view))
            return
        await answer(f"{len(view.recommendations)} changes below: approve or reject each.")
        for rec in view.recommendations:
            keyboard = item_keyboard(view.session.id, rec.id) if rec.status == "pending" else None
            await summary.reply_text(
                review_text(view, rec), reply_markup=keyboard, reply_parameters=ReplyParameters(summary.message_id)
            )

    async def on_error(self, update: object, context: Context) -> None:
        """Log the error; a button whose handler failed is still answered. A lost connection outside any
        update (long polling, which retries by itself) is one line, not a traceback per retry."""
        if update is None and _connection_failure(context.error):
            log.warning("cannot reach the Bot API server: %s", context.error)
            return
        log.error("error while handling an update", exc_info=context.error)
        if isinstance(update, Update) and update.callback_query:
            with contextlib.suppress(TelegramError):  # answered before the error
                await update.callback_query.answer("Internal error, nothing more was done; see the bot's log.")

    def _session_keyboard(self, view: SessionView) -> Any:
        pending = view.session.status == "pending" and view.pending()
        return session_keyboard(view.session.id) if pending else None


def build_application(desk: TuningDesk, token: str, *, base_url: str | None = None) -> AnyApplication:
    """The bot's Application for ``token``: handlers, gate, commands and the scheduled job (set up when it
    starts). ``base_url`` is a self-hosted Bot API server, e.g. ``http://127.0.0.1:8081`` (``/bot`` is
    added when missing)."""
    bot = ApprovalBot(desk)
    builder = ApplicationBuilder().token(token).post_init(bot.post_init)
    if base_url:
        root = base_url.rstrip("/").removesuffix("/bot")
        builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
    app = builder.build()
    bot.register(app)
    return app


def run_bot(desk: TuningDesk, token: str, *, base_url: str | None = None) -> None:
    """Run the bot on long polling until SIGINT or SIGTERM; the token never reaches the log.

    ``NetworkError`` when the Bot API server cannot be reached at start (logged as one line),
    ``InvalidToken`` when it refuses the token."""
    shorten_connection_errors()
    hide_in_logs(token)  # after: the reason shortened into a line is redacted too
    app = build_application(desk, token, base_url=base_url)
    log.info("bot starting (long polling); stop with Ctrl-C or SIGTERM")
    app.run_polling(
        stop_signals=(signal.SIGINT, signal.SIGTERM), allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY]
    )
    log.info("bot stopped")


def shorten_connection_errors() -> None:
    """Make every handler of the root logger write python-telegram-bot's connection failures and token
    refusals as one line with the reason, not with the ~30-line traceback through httpx the library
    attaches (e.g. when the server is unreachable at start, before the error reaches the caller)."""
    shorten = _ShortenConnectionErrors()
    for handler in logging.getLogger().handlers:
        handler.addFilter(shorten)


class _ShortenConnectionErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if record.name.startswith("telegram") and (_connection_failure(error) or isinstance(error, InvalidToken)):
            record.msg, record.args = f"{record.getMessage()} ({type(error).__name__}: {error})", None
            record.exc_info, record.exc_text = None, None
        return True


def hide_in_logs(secret: str) -> None:
    """Replace ``secret`` by ``<token>`` in every record the root logger's handlers write (URLs carry it)."""
    redact = _Redact(secret)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)


class _Redact(logging.Filter):
    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "<token>"), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = record.exc_text.replace(self.secret, "<token>")
        return True


async def _show(message: Message, text: str, keyboard: Any) -> None:
    """Edit ``message`` to ``text`` and ``keyboard`` (None removes the buttons); unchanged is fine."""
    try:
        await message.edit_text(text, reply_markup=keyboard)
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise


async def _report_failure(bot: Bot, chat_id: int, board: Message | None, why: str) -> None:
    text = failure_text(why)
    if board is not None:
        await _show(board, text, None)
    else:
        await bot.send_message(chat_id, text)


def _connection_failure(error: object) -> bool:
    """Whether ``error`` is a failure to reach the Bot API server (a refused request is not)."""
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


def _actor(user: User) -> str:
    return f"telegram:{user.id}"


def _name(user: User) -> str:
    return f"@{user.username}" if user.username else user.full_name or str(user.id)
