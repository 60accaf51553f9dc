"""Real recorded English speech with transcripts, from Debian packages (no other download).

Two sources, both fetched with ``apt-get download NAME`` and unpacked with
``dpkg-deb -x`` into a cache folder (once; later calls reuse it):

* ``pocketsphinx-testdata`` (CMU Sphinx test data, BSD-style licence): 16 kHz mono read
  speech with transcripts: five LibriVox sentences of *Sense and Sensibility*
  (``test/data/librivox``) and five card-game commands (``test/data/cards``). Transcript
  files hold ``<s> words </s> (utterance-id)`` lines.
* ``asterisk-core-sounds-en-wav`` (the prompts of the Asterisk PBX, voice "Allison",
  CC BY-SA 3.0): 8 kHz mono telephone prompts, with their texts from
  ``asterisk-core-sounds-en`` (``usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz``,
  lines ``name: text``; ``name`` may hold a subfolder such as ``digits/1``).

Functions return ``(wav path, transcript)`` pairs sorted by path; the transcript is the
package's text as written (punctuation, digits and ``#``/``*`` kept) except that
parenthesised notes, which are not spoken, are removed (``(simple tone sound plays)``,
``(note: does not say "2")``): use :func:`spoken_form` to compare it with recogniser
output. Prompts whose text is only a bracketed or parenthesised description
(``[ascending tones]``, ``(1 second of silence)``: the ``silence/`` files) or that have no
audio file are left out.

Errors: :class:`FetchError` (a ``RuntimeError``) when ``apt-get``/``dpkg-deb`` are missing
or the package cannot be downloaded (no network, no apt lists: run ``apt-get update``);
tests catch it and skip.

Example::

    from fetch_real_speech import fetch_asterisk
    pairs = fetch_asterisk(Path("~/.cache/semser-real-speech").expanduser())
    pairs[0]   # (PosixPath('.../en_US_f_Allison/activated.wav'), 'Activated.')
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

__all__ = [
    "FetchError",
    "fetch_package",
    "fetch_asterisk",
    "fetch_pocketsphinx_testdata",
    "prompt_text",
    "spoken_form",
]

ASTERISK_VOICE = "en_US_f_Allison"


class FetchError(RuntimeError):
    """A Debian package could not be downloaded or unpacked."""


def fetch_package(name: str, cache_dir) -> Path:
    """Download Debian package ``name`` and unpack it under ``cache_dir/name`` (once).

    Returns the unpacked root (holding ``usr/...``). The folder appears only when
    complete (unpacked into a temporary folder, then renamed), so an interrupted fetch
    leaves nothing half-done.

    Raises:
        FetchError: ``apt-get`` or ``dpkg-deb`` missing, or the download failed.
    """
    cache_dir = Path(cache_dir).expanduser()
    dest = cache_dir / name
    if (dest / ".complete").is_file():
        return dest
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise FetchError(
                f"{tool} not found: fetching the Debian package {name!r} needs apt and dpkg"
            )
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=f".{name}.") as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o755)  # apt's sandbox user must be able to write the .deb
        try:
            run = subprocess.run(
                ["apt-get", "download", name], cwd=tmp, capture_output=True, text=True, timeout=600
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise FetchError(f"apt-get download {name} failed: {err}") from err
        debs = sorted(tmp.glob(f"{name}_*.deb"))
        if run.returncode != 0 or not debs:
            raise FetchError(
                f"apt-get download {name} failed (exit {run.returncode}): "
                f"{(run.stderr or run.stdout).strip()[-400:]}; is the network reachable and "
                "'apt-get update' done?"
            )
        root = tmp / "root"
        x = subprocess.run(
            ["dpkg-deb", "-x", str(debs[-1]), str(root)], capture_output=True, text=True
        )
        if x.returncode != 0:
            raise FetchError(f"dpkg-deb -x {debs[-1].name} failed: {x.stderr.strip()[-400:]}")
        (root / ".complete").write_text(debs[-1].name + "\n")
        if dest.exists():  # an incomplete earlier attempt: set it aside, then remove
            old = dest.with_name(f".{name}.{uuid.uuid4().hex[:8]}.old")
            os.rename(dest, old)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(root, dest)
    return dest


_BRACKETED = re.compile(r"^\s*\[[^\]]*\]\s*$")
_NOTE = re.compile(r"\([^()]*\)")  # "(1 second of silence)", "(note: does not say "2")"


def prompt_text(text: str) -> str:
    """The spoken part of a prompt's text: parenthesised notes removed, spaces collapsed.

    Example:
        >>> prompt_text('IAX (note: does not say "2")')
        'IAX'
    """
    return " ".join(_NOTE.sub(" ", text).split())


def read_asterisk_texts(path) -> dict:
    """``{name: text}`` from ``core-sounds-en.txt(.gz)`` (``;`` comments and blank lines skipped)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    out = {}
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(";") or ":" not in line:
                continue
            name, text = line.split(":", 1)
            out[name.strip()] = text.strip()
    return out


def fetch_asterisk(cache_dir) -> list[tuple[Path, str]]:
    """The Asterisk English prompts (8 kHz WAV, voice Allison) with their texts.

    Args:
        cache_dir: where the packages are unpacked (created if needed).

    Returns:
        ``(wav path, text)`` sorted by path: 553 prompts with package version 1.6.1.

    Raises:
        FetchError: a package could not be fetched.
    """
    wav_root = fetch_package("asterisk-core-sounds-en-wav", cache_dir)
    doc_root = fetch_package("asterisk-core-sounds-en", cache_dir)
    texts_file = doc_root / "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
    if not texts_file.is_file():
        raise FetchError(f"{texts_file}: the prompt texts are missing from asterisk-core-sounds-en")
    sounds = wav_root / "usr/share/asterisk/sounds" / ASTERISK_VOICE
    out = []
    for name, text in read_asterisk_texts(texts_file).items():
        wav = sounds / f"{name}.wav"
        if not text or _BRACKETED.match(text) or not wav.is_file():
            continue
        text = prompt_text(text)
        if text:
            out.append((wav, text))
    return sorted(out)


_SPHINX_LINE = re.compile(r"^(.*?)\s*\(([^()]+)\)\s*$")


def fetch_pocketsphinx_testdata(cache_dir) -> list[tuple[Path, str]]:
    """pocketsphinx's test sentences (16 kHz WAV) with their transcripts.

    Reads every ``*.transcription`` / ``transcription`` file under ``test/data``
    (``<s> words </s> (id)``) and pairs each line with ``<id>.wav`` in the same folder.

    Returns:
        ``(wav path, text)`` sorted by path (10 with package version 0.8+5prealpha+1-15:
        5 LibriVox sentences, 5 card commands).

    Raises:
        FetchError: the package could not be fetched.
    """
    root = fetch_package("pocketsphinx-testdata", cache_dir) / "usr/share/pocketsphinx/test/data"
    out = []
    for tfile in sorted(list(root.rglob("*.transcription")) + list(root.rglob("transcription"))):
        for line in tfile.read_text(encoding="utf-8", errors="replace").splitlines():
            m = _SPHINX_LINE.match(line.strip())
            if not m:
                continue
            text = re.sub(r"</?s>", " ", m.group(1))
            text = " ".join(text.split())
            wav = tfile.parent / f"{m.group(2)}.wav"
            if text and wav.is_file():
                out.append((wav, text))
    return sorted(out)


_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_SYMBOLS = {"#": " pound ", "*": " star ", "&": " and ", "%": " percent "}


def spoken_form(text: str) -> str:
    """Text as it is spoken, for WER against a recogniser: ``#`` -> pound, ``*`` -> star,
    each digit as a word (Asterisk prompts say numbers digit by digit or are single
    digits), hyphens as spaces, other punctuation removed, lower case.

    Example:
        >>> spoken_form("Press 1, then #.")
        'press one then pound'
    """
    for sym, word in _SYMBOLS.items():
        text = text.replace(sym, word)
    text = re.sub(r"\d", lambda m: f" {_DIGITS[int(m.group())]} ", text)
    text = text.replace("-", " ")
    words = [w.strip('.,;:!?"()[]{}…') for w in text.split()]
    return " ".join(w.lower() for w in words if w.strip("'"))
