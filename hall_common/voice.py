"""Offline speech: espeak-ng's Mandarin voice, one WAV file per phrase, cached on disk.

Kiosks read each screen's title and instruction to residents in elder mode, and the board
calls numbers ("请 A012 号到 3 号窗口办理"). Both use this, never a cloud service: the hall
must speak with its internet link down. A phrase is synthesised once (about 40 ms) and
then served from the cache.

Example::

    voice = Voice(cache_dir)
    key = voice.register("请选择服务", "zh")
    path = voice.wav(key)           # synthesises on first use
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from collections import OrderedDict
from pathlib import Path

from hall_common.errors import HallError

VOICES = {"zh": "cmn", "en": "en-us"}


class VoiceError(HallError, RuntimeError):
    """The speech engine is missing or failed; the screen still shows the text."""


class Voice:
    """Phrases registered by the pages that show them, synthesised on demand.

    Only registered phrases can be spoken: a request for any other key is refused, so the
    kiosk's voice endpoint cannot be made to synthesise arbitrary text.
    """

    def __init__(self, cache_dir: Path, *, rate: int = 140, max_phrases: int = 2000) -> None:
        self.cache_dir = cache_dir
        self.rate = rate
        self._phrases: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._max = max_phrases
        self._lock = threading.Lock()

    def register(self, text: str, lang: str = "zh") -> str:
        """The cache key for ``text`` in ``lang`` (``zh`` or ``en``)."""
        voice = VOICES.get(lang, VOICES["zh"])
        key = hashlib.sha256(f"{voice}|{self.rate}|{text}".encode()).hexdigest()[:24]
        with self._lock:
            self._phrases[key] = (text, voice)
            self._phrases.move_to_end(key)
            while len(self._phrases) > self._max:
                self._phrases.popitem(last=False)
        return key

    def wav(self, key: str) -> Path:
        """The WAV file for a registered phrase; raises KeyError for an unknown key."""
        with self._lock:
            text, voice = self._phrases[key]
        path = self.cache_dir / f"{key}.wav"
        if path.exists():
            return path
        engine = shutil.which("espeak-ng")
        if engine is None:
            raise VoiceError("espeak-ng is not installed (run scripts/setup)")
        result = subprocess.run(
            [engine, "-v", voice, "-s", str(self.rate), "--stdout", "--", text],
            capture_output=True, timeout=20,
        )
        if result.returncode != 0 or len(result.stdout) <= 44:
            raise VoiceError(f"espeak-ng failed: {result.stderr.decode(errors='replace').strip()}")
        # Synthesised to memory, then written here: espeak-ng's own ``-w`` answers 0 on a
        # full disk and leaves a cut (or empty) file that would be cached and served.
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(path, _sized_wav(result.stdout))
        except OSError as exc:
            raise VoiceError(f"cannot cache the phrase in {self.cache_dir}: {exc.strerror}") from exc
        return path


def _sized_wav(data: bytes) -> bytes:
    """espeak-ng's WAV on stdout, with the sizes it cannot fill in on a pipe (it writes
    0x7ffff0xx there) set to the real ones. Its header is the canonical 44 bytes."""
    if data[:4] != b"RIFF" or data[36:40] != b"data":
        return data
    return data[:4] + (len(data) - 8).to_bytes(4, "little") + data[8:40] + (len(data) - 44).to_bytes(4, "little") + data[44:]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a failed write (a full disk) leaves no file."""
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)  # a buffered write retries short writes and raises ENOSPC
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def chime_wav(cache_dir: Path) -> Path:
    """The call chime (叮咚): two soft sine tones, made once with the standard library."""
    import math
    import struct
    import wave

    path = cache_dir / "chime.wav"
    if path.exists():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    rate = 22050
    frames = bytearray()
    for freq, seconds in ((880.0, 0.35), (660.0, 0.55)):
        n = int(rate * seconds)
        for i in range(n):
            fade = min(1.0, i / 400, (n - i) / 2000)  # no click at either end
            frames += struct.pack("<h", int(12000 * fade * math.sin(2 * math.pi * freq * i / rate)))
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    os.replace(tmp, path)
    return path
