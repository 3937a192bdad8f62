"""Where a search lives: Optuna storages by URL, and the study with the records that let every process
check it replays what the study was created for (the spec, the replay settings, fingerprints)."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import numpy as np
import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from framework.config import ReplaySettings, Settings
from framework.errors import InputError, Problem
from framework.playbook import Playbook
from framework.replay import ReplayInputs
from framework.search.spec import SearchSpec

RDB_SCHEMES = ("sqlite", "postgresql", "mysql")
JOURNAL_PREFIX = "journal://"
JOURNAL_SUFFIXES = (".log", ".jsonl")
STORAGE_FORMS = (
    "sqlite:///path/to/file.db, postgresql://user:password@host/database, mysql://..., "
    "journal:///path/to/file.log, or a file path ending in .log or .jsonl (journal file)"
)

# Study user attributes that let every process check it replays what the study was created for.
_ATTR_SPEC = "spec"
_ATTR_SETTINGS = "replay_settings"
_ATTR_PLAYBOOK = "playbook_sha256"
_ATTR_DATA = "data_fingerprint"
_ATTR_TRADES = "trades"

POSTGRES_DRIVER_HINT = "install the postgres extra (pip install 'playbook-tuner[postgres]': psycopg 3)"


def _with_driver(url: str) -> str:
    """``url`` with psycopg 3 as the driver of a ``postgresql://`` URL that names none (SQLAlchemy's
    default there is psycopg2, which the project does not bring)."""
    if url.lower().startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def shown_url(url: str) -> str:
    """``url`` as error texts show it: a password in it replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not parseable as a URL (a bad port, say): nothing is taken for a password
        return url
    if not password:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def storage_from_url(url: str | None) -> optuna.storages.BaseStorage | None:
    """An Optuna storage for ``url``: ``None`` for in-memory (one process only); ``sqlite:///path.db``,
    ``postgresql://...`` (driven by psycopg 3, the ``postgres`` extra, unless the URL names another
    driver as ``postgresql+driver://``) or ``mysql://...`` for an RDB storage; ``journal:///abs/path.log``,
    ``journal://relative/path.log`` or a plain path ending in ``.log``/``.jsonl`` for a journal file
    (safe on NFS). Anything else, or a storage that cannot be opened, is an ``InputError``.
    """
    if url is None:
        return None
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower() if "://" in url else ""
    shown = shown_url(url)
    if scheme in RDB_SCHEMES:
        import sqlalchemy.exc  # here: a tenth of a second on every tune otherwise, and only RDB storages need it

        try:
            return RDBStorage(_with_driver(url))
        except ImportError:
            hint = POSTGRES_DRIVER_HINT if scheme == "postgresql" else "install one or use another storage"
            raise InputError.single(shown, f"no database driver for {scheme} is installed; {hint}") from None
        except sqlalchemy.exc.SQLAlchemyError as exc:
            reason = str(exc.orig) if isinstance(exc, sqlalchemy.exc.DBAPIError) else str(exc)
            raise InputError.single(shown, f"cannot open this storage: {reason}") from None
        except ValueError as exc:  # SQLAlchemy's URL parser, on a port that is not a number say
            raise InputError.single(shown, f"not a database URL ({exc}); accepted: {STORAGE_FORMS}") from None
    if url.startswith(JOURNAL_PREFIX):
        path = url.removeprefix(JOURNAL_PREFIX)
    elif not scheme and url.lower().endswith(JOURNAL_SUFFIXES):
        path = url
    else:
        raise InputError.single(shown or "<empty storage url>", f"not a storage URL; accepted: {STORAGE_FORMS}")
    if not path:
        raise InputError.single(shown, f"the journal URL names no file; accepted: {STORAGE_FORMS}")
    try:
        return JournalStorage(JournalFileBackend(path))
    except OSError as exc:
        raise InputError.single(shown, f"cannot open the journal file: {exc.strerror}") from None


def chosen_storage(url: str | None, settings: Settings) -> str | None:
    """The search storage a run uses: ``url`` (the command line's) over ``settings.search_storage``;
    None keeps the searches in memory. One that cannot be opened is the ``InputError`` of
    :func:`storage_from_url` here, before the run's work, not a failure of each of its searches."""
    chosen = url or settings.search_storage or None
    if chosen:
        storage_from_url(chosen)
    return chosen


def open_study(
    spec: SearchSpec,
    storage: str | None,
    inputs: ReplayInputs,
    base: Playbook,
    settings: ReplaySettings,
) -> optuna.Study:
    """Create the study ``spec.study_name`` in ``storage`` (a URL, see :func:`storage_from_url`), or
    load it when it exists, with a TPE sampler seeded with ``spec.seed``.

    In a shared storage a new study records the spec, the replay settings and fingerprints of the
    playbook and the prepared trades, so workers can join it, and an existing study must have been
    created for the same spec and the same data; otherwise ``InputError`` says what differs. An
    in-memory study (``storage`` None) is this process's alone: nothing is recorded or checked.
    """
    study = optuna.create_study(
        study_name=spec.study_name,
        storage=storage_from_url(storage),
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=spec.seed),
        load_if_exists=True,
    )
    if storage is None:
        return study
    if _ATTR_SPEC not in study.user_attrs:
        study.set_user_attr(_ATTR_SPEC, spec.to_json())
        study.set_user_attr(_ATTR_SETTINGS, settings.model_dump())
        study.set_user_attr(_ATTR_PLAYBOOK, base.sha256())
        study.set_user_attr(_ATTR_DATA, _fingerprint(inputs))
        study.set_user_attr(_ATTR_TRADES, len(inputs.trade_id))
        return study
    if stored_spec(study, storage) != spec:
        raise InputError.single(
            study_label(spec.study_name, storage),
            "this study already exists with a different search spec; choose another study name",
            field="study_name",
        )
    check_same_replay(study, storage, inputs, base, settings)
    return study


def stored_spec(study: optuna.Study, storage: str | None) -> SearchSpec:
    text = study.user_attrs.get(_ATTR_SPEC)
    if not isinstance(text, str):
        raise InputError.single(
            study_label(study.study_name, storage),
            "this study has no search spec; it was not created by framework.search.open_study",
        )
    return SearchSpec.from_json(text)


def check_same_replay(
    study: optuna.Study, storage: str | None, inputs: ReplayInputs, base: Playbook, settings: ReplaySettings
) -> None:
    attrs = study.user_attrs
    label = study_label(study.study_name, storage)
    problems: list[Problem] = []
    if attrs.get(_ATTR_SETTINGS) != settings.model_dump():
        problems.append(
            Problem(
                label,
                f"replay settings differ: study {attrs.get(_ATTR_SETTINGS)}, here {settings.model_dump()}",
            )
        )
    if attrs.get(_ATTR_PLAYBOOK) != base.sha256():
        problems.append(Problem(label, f"the base playbook {base.source} differs from the study's (SHA-256)"))
    if attrs.get(_ATTR_DATA) != _fingerprint(inputs):
        problems.append(
            Problem(
                label,
                f"the trades or candles differ from the study's ({len(inputs.trade_id)} trades here, "
                f"{attrs.get(_ATTR_TRADES)} in the study)",
            )
        )
    if problems:
        raise InputError(problems)


def _fingerprint(inputs: ReplayInputs) -> str:
    """SHA-256 over everything the replay reads of the trades and candles: the trade ids, strategies and
    symbols, and every array of the kernels' records (SHA-256 runs at about 2 GB/s with the CPU's SHA
    instructions, so hashing all of them costs ~0.1 s per 100 MB of candles)."""
    digest = hashlib.sha256()
    for names in (inputs.trade_id, inputs.strategies, inputs.symbols):
        digest.update("\x1f".join(map(str, names)).encode("utf-8"))
        digest.update(b"\x1e")
    for name, array in sorted(
        {**inputs.arrays, "segments": inputs.segments, "symbol_index": inputs.symbol_index}.items()
    ):
        digest.update(name.encode("utf-8"))
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def study_label(study_name: str, storage: str | None) -> str:
    return f"study '{study_name}' in {shown_url(storage) if storage else 'memory'}"
