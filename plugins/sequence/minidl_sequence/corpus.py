"""The book's corpus: Jay Chou's lyrics, read from ``jaychou_lyrics.txt.zip``, as characters.

Where it is read from: the path given, else ``$MINIDL_DATA``, else the book's
``../../data/`` (its notebooks run from ``code/chapter06_RNN``); a path may name the zip,
the unzipped ``jaychou_lyrics.txt``, or a folder holding either. Nothing is downloaded.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from minidl.errors import MinidlError

LYRICS_ZIP = "jaychou_lyrics.txt.zip"
LYRICS_TXT = "jaychou_lyrics.txt"
BOOK_DATA_DIR = Path("..") / ".." / "data"  # the book's folder, relative to its notebooks
DATA_ENV = "MINIDL_DATA"
BOOK_NUM_CHARS = 10_000  # the book keeps the first 10,000 characters


@dataclass(frozen=True)
class Vocabulary:
    """The distinct characters of a corpus, sorted: ``idx_to_char[i]`` and its inverse.

    Sorted (the book's ``list(set(...))`` order changes with Python's hash seed), so a
    saved model means the same characters in every process.
    """

    idx_to_char: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> Vocabulary:
        """The vocabulary of ``text``."""
        return cls(tuple(sorted(set(text))))

    @property
    def char_to_idx(self) -> dict[str, int]:
        """Each character's index."""
        return {char: i for i, char in enumerate(self.idx_to_char)}

    def __len__(self) -> int:
        return len(self.idx_to_char)

    def encode(self, text: str) -> list[int]:
        """The indices of ``text``'s characters; an unknown character raises MinidlError naming it."""
        index = self.char_to_idx
        unknown = sorted({char for char in text if char not in index})
        if unknown:
            shown = ", ".join(repr(char) for char in unknown[:10]) + (", ..." if len(unknown) > 10 else "")
            raise MinidlError(f"{len(unknown)} character(s) not in the vocabulary of {len(self)} "
                              f"characters the model was trained on: {shown}")
        return [index[char] for char in text]

    def decode(self, indices: list[int]) -> str:
        """The characters of ``indices``."""
        return "".join(self.idx_to_char[i] for i in indices)


def locate(path: str | os.PathLike[str] | None = None, *, hint: str = "") -> Path:
    """The lyrics file to read: ``path``, else ``$MINIDL_DATA``, else the book's ``../../data/``.

    ``path`` (or the folder named by ``$MINIDL_DATA``) may be the zip, the text file or a
    folder holding either. Raises :class:`MinidlError` saying where it looked and how to
    point at the file (``hint``: how the caller names the path, e.g. ``--set dataset.path=...``).
    """
    if path is not None:
        chosen, source = Path(path).expanduser(), "the path given"
    elif os.environ.get(DATA_ENV):
        chosen, source = Path(os.environ[DATA_ENV]).expanduser(), f"${DATA_ENV}"
    else:
        chosen, source = BOOK_DATA_DIR, "the book's default folder"
    if chosen.is_dir():
        candidates = [chosen / LYRICS_ZIP, chosen / LYRICS_TXT]
    else:  # a file given by path, or a folder that does not exist
        candidates = [chosen] if path is not None else [chosen / LYRICS_ZIP]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    how = hint or f"pass its path, or set {DATA_ENV} to its folder"
    raise MinidlError(f"the lyrics corpus {LYRICS_ZIP} was not found at {candidates[0]} ({source}); "
                      f"get it from the book's repository (data/{LYRICS_ZIP}) and {how}")


def read_text(path: Path) -> str:
    """The whole corpus: the text file, or the ``jaychou_lyrics.txt`` member of the zip."""
    try:
        if path.suffix != ".zip":
            return path.read_text(encoding="utf-8")
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            texts = [name for name in names if name.endswith(".txt")]
            member = LYRICS_TXT if LYRICS_TXT in names else (texts[0] if len(texts) == 1 else None)
            if member is None:
                raise MinidlError(f"{path} holds no {LYRICS_TXT} (it holds {', '.join(names[:5]) or 'nothing'})")
            return archive.read(member).decode("utf-8")
    except zipfile.BadZipFile:
        raise MinidlError(f"{path} is not a zip file; give {LYRICS_ZIP} or the unzipped {LYRICS_TXT}") from None
    except UnicodeDecodeError:
        raise MinidlError(f"{path} is not UTF-8 text; give the book's {LYRICS_ZIP}") from None
    except OSError as exc:
        raise MinidlError(f"cannot read {path}: {exc.strerror or exc}") from None


def text_bytes(path: str | os.PathLike[str] | None = None) -> int:
    """The size of the corpus text in bytes (uncompressed), without reading it."""
    found = locate(path)
    if found.suffix != ".zip":
        return found.stat().st_size
    try:
        with zipfile.ZipFile(found) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return found.stat().st_size


def read_corpus(path: str | os.PathLike[str] | None = None, num_chars: int = BOOK_NUM_CHARS, *,
                hint: str = "") -> str:
    """The book's corpus: newlines (and carriage returns) as spaces, the first ``num_chars``
    characters (the book's 10,000)."""
    text = read_text(locate(path, hint=hint))
    return text.replace("\n", " ").replace("\r", " ")[:num_chars]
