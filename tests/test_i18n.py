"""Messages in Simplified Chinese (issue 22): the language choice, the catalogs, the CLI.

Machine-readable output must not change with the language; everything a person reads
does, with file, line and column (as the file names it) kept as they are.
"""

from __future__ import annotations

import ast
import csv
import io
import os
import pickle
import re
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from click.testing import CliRunner

from shopsync.cli import cli
from shopsync.cli.main import language_flag_of
from shopsync.i18n import (
    N_,
    Message,
    _,
    choose_language,
    join_messages,
    language_of_locale,
    localized,
    nN_,
    set_language,
)
from shopsync.sandbox import SandboxHandle

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "src" / "shopsync" / "locale"
PO_PATH = LOCALE / "zh_CN" / "LC_MESSAGES" / "shopsync.po"
POT_PATH = LOCALE / "shopsync.pot"

# A file as a Chinese seller exports it: Chinese headers, and mistakes in three rows.
SELLER_FILE = (
    "商品编码,商品名称,价格,库存\n"
    "A-1,好商品,10.00,5\n"
    ",没有编码,10.00,5\n"
    "B-2,负价格,-3,5\n"
    "C-3,库存不是数字,10.00,很多\n"
)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean directory and environment: no configuration, no locale variables."""
    monkeypatch.setenv("SHOPSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in (
        "SHOPSYNC_BASE_URL",
        "SHOPSYNC_CLIENT_ID",
        "SHOPSYNC_CLIENT_SECRET",
        "SHOPSYNC_PROFILE",
        "SHOPSYNC_CONFIG",
        "SHOPSYNC_LANG",
        "LC_ALL",
        "LC_MESSAGES",
        "LANG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "商品.csv").write_text(SELLER_FILE, encoding="utf-8")
    return tmp_path


def run(args: list[str], **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, env=env, prog_name="shopsync")
    return result.exit_code, result.stdout, result.stderr


# -- choosing the language -------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "environ", "expected"),
    [
        (None, {}, "en"),
        (None, {"LANG": "zh_CN.UTF-8"}, "zh"),
        (None, {"LANG": "zh_CN.GB18030"}, "zh"),
        (None, {"LANG": "zh_SG.UTF-8"}, "zh"),
        (None, {"LANG": "zh_TW.UTF-8"}, "zh"),  # no Traditional catalog: Simplified
        (None, {"LANG": "zh_HK.Big5"}, "zh"),
        (None, {"LANG": "zh"}, "zh"),
        (None, {"LANG": "en_US.UTF-8"}, "en"),
        (None, {"LANG": "de_DE.UTF-8"}, "en"),
        (None, {"LANG": "C"}, "en"),
        (None, {"LANG": "POSIX"}, "en"),
        (None, {"LANG": "C.UTF-8"}, "en"),
        (None, {"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "C"}, "zh"),
        (None, {"LC_ALL": "C", "LC_MESSAGES": "zh_CN.UTF-8"}, "en"),
        (None, {"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
        (None, {"LC_ALL": "", "LANG": "zh_CN.UTF-8"}, "zh"),  # empty is unset
        (None, {"SHOPSYNC_LANG": "en", "LC_ALL": "zh_CN.UTF-8"}, "en"),
        (None, {"SHOPSYNC_LANG": "zh", "LC_ALL": "C"}, "zh"),
        (None, {"SHOPSYNC_LANG": "ZH"}, "zh"),
        (None, {"SHOPSYNC_LANG": "zh_TW.UTF-8"}, "zh"),
        ("en", {"SHOPSYNC_LANG": "zh", "LANG": "zh_CN.UTF-8"}, "en"),
        ("zh", {"SHOPSYNC_LANG": "en", "LC_ALL": "C"}, "zh"),
    ],
)
def test_language_is_chosen_by_flag_then_own_variable_then_locale(
    flag: str | None, environ: dict[str, str], expected: str
) -> None:
    assert choose_language(flag, environ) == expected


def test_locale_names_with_modifiers_and_dashes() -> None:
    assert language_of_locale("zh_CN.UTF-8@pinyin") == "zh"
    assert language_of_locale("zh-Hans") == "zh"
    assert language_of_locale("zhx") == "en"


def test_lang_flag_is_read_before_parsing_and_after_the_subcommand_too() -> None:
    assert language_flag_of(["--lang", "zh", "validate", "x.csv"]) == "zh"
    assert language_flag_of(["validate", "x.csv", "--lang=zh"]) == "zh"
    assert language_flag_of(["validate", "--lang", "xx"]) is None
    assert language_flag_of(["validate", "--", "--lang", "zh"]) is None


# -- messages as data ------------------------------------------------------------------


def test_a_message_is_english_text_translated_only_where_it_is_read() -> None:
    message = N_("{path}: the file is empty.").format(path="a.csv")
    assert message == "a.csv: the file is empty."
    set_language("zh")
    assert str(message) == "a.csv: the file is empty."
    assert localized(message) == "a.csv：文件是空的。"
    nested = N_("{column}: {message}").format(column="价格", message=N_("is required"))
    assert localized(nested) == "价格：必填"
    both = join_messages([N_("is required"), N_("must be text")])
    assert both == "is required; must be text"
    assert localized(both) == "必填; 应为文本"


def test_messages_survive_pickling_to_and_from_worker_processes() -> None:
    message = N_("is longer than {max_length} characters").format(max_length=5)
    joined = join_messages([message, N_("must be text")])
    set_language("zh")
    for original in (message, joined):
        copy = pickle.loads(pickle.dumps(original))  # noqa: S301 - our own bytes
        assert isinstance(copy, Message)
        assert copy == original
        assert localized(copy) == localized(original)
    assert localized(message) == "超过 5 个字符"


def test_counted_messages_take_the_form_of_their_count() -> None:
    one = nN_("{count} order.", "{count} orders.", 1).format(count=1)
    three = nN_("{count} order.", "{count} orders.", 3).format(count=3)
    assert (one, three) == ("1 order.", "3 orders.")
    set_language("zh")
    assert (localized(one), localized(three)) == ("1 个订单。", "3 个订单。")


# -- the catalogs ----------------------------------------------------------------------


def _placeholders(text: str) -> set[str]:
    """The ``str.format`` fields of ``text`` (name and conversion), or its ``%(name)s``."""
    if "%(" in text:
        return set(re.findall(r"%\((\w+)\)[sdr]", text))
    found = set()
    for _literal, name, _spec, conversion in string.Formatter().parse(text):
        if name is not None:
            found.add(f"{name}!{conversion}" if conversion else name)
    return found


def _catalog() -> Catalog:
    with PO_PATH.open("rb") as stream:
        return read_po(stream, locale="zh_CN")


def test_every_message_is_translated_and_none_is_fuzzy() -> None:
    catalog = _catalog()
    assert not catalog.fuzzy
    untranslated = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            untranslated.append(message.id)
    assert untranslated == []


def test_translations_keep_the_placeholders_of_their_messages() -> None:
    mismatched = []
    for message in _catalog():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set().union(*(_placeholders(text) for text in ids))
        for text in strings:
            # Chinese has one form for every count: it may show the count or not, but it
            # may name no field that neither English form has.
            if _placeholders(text) - wanted or (len(ids) == 1 and _placeholders(text) != wanted):
                mismatched.append((message.id, text))
    assert mismatched == []


def test_the_committed_catalog_compiles() -> None:
    catalog = _catalog()
    assert catalog.plural_forms == "nplurals=1; plural=0;"
    # Babel takes "5% of" in a help text for a %-format; only "%(name)s" ones are (click's).
    problems = [
        (message.id, errors)
        for message, errors in catalog.check()
        if errors and "%(" in str(message.id)
    ]
    assert problems == []
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    assert compiled.getvalue()[:4] in (b"\xde\x12\x04\x95", b"\x95\x04\x12\xde")


def test_the_template_is_up_to_date_with_the_source() -> None:
    """Extraction run here as ``scripts/messages.py extract`` runs it, compared by msgid."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import messages  # noqa: PLC0415
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    fresh = messages.msgids(messages.template())
    with POT_PATH.open("rb") as stream:
        committed = messages.msgids(read_po(stream))
    assert sorted(fresh - committed) == [], "run: python scripts/messages.py update"
    assert sorted(committed - fresh) == [], "run: python scripts/messages.py update"
    assert messages.msgids(_catalog()) == committed


def test_the_installed_package_carries_the_compiled_catalog() -> None:
    from importlib.resources import files  # noqa: PLC0415

    compiled = files("shopsync") / "locale" / "zh_CN" / "LC_MESSAGES" / "shopsync.mo"
    assert compiled.is_file(), "pip install -e . builds it (hatch_build.py)"
    set_language("zh")
    assert _("Usage:") == "用法:"


# -- the command line ------------------------------------------------------------------


def test_validate_in_chinese_names_file_line_and_the_files_own_column(workdir: Path) -> None:
    code, out, _err = run(["validate", "商品.csv", "--rejects", "拒收.csv"], LANG="zh_CN.UTF-8")
    assert code == 3
    assert out.splitlines() == [
        "商品.csv:3: 商品编码: 必填",
        "商品.csv:4: 价格: 应大于 0（值：'-3'）",
        "商品.csv:5: 库存: 不是整数（值：'很多'）",
        "共 4 行：有效 1 行，无效 3 行（1 个文件）。",
        "拒收的行已写入 拒收.csv（3 行）。",
    ]
    with (workdir / "拒收.csv").open(encoding="utf-8-sig", newline="") as stream:
        errors = [row["error"] for row in csv.DictReader(stream)]
    assert errors == [
        "商品.csv:3: 商品编码：必填",
        "商品.csv:4: 价格：应大于 0",
        "商品.csv:5: 库存：不是整数",
    ]


def test_a_platforms_plan_time_rules_are_told_in_chinese(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Taobao's own rules, checked by validate without connecting (the profile's platform):
    # a title of 31 Chinese characters is 62 as Taobao counts, and a category by name.
    monkeypatch.setenv("SHOPSYNC_PLATFORM", "taobao")
    (workdir / "淘宝.csv").write_text(
        "商品编码,商品名称,价格,库存,attr:taobao:cid\n"
        "A-1,好商品,10.00,5,50010850\n"
        f"B-2,{'长' * 31},10.00,5,50010850\n"
        "C-3,好商品,10.00,5,女装\n",
        encoding="utf-8",
    )
    code, out, _err = run(["validate", "淘宝.csv", "--rejects", "拒收.csv"], LANG="zh_CN.UTF-8")
    assert code == 3
    assert out.splitlines() == [
        "淘宝.csv:3: 商品名称: 按淘宝的算法是 62 个字符（一个汉字算两个），淘宝最多允许 60 个"
        f"（值：'{'长' * 31}'）",
        "淘宝.csv:4: attr:taobao:cid: 必须是淘宝类目 ID（纯数字）（值：'女装'）",
        "共 3 行：有效 1 行，无效 2 行（1 个文件）。",
        "拒收的行已写入 拒收.csv（2 行）。",
    ]
    with (workdir / "拒收.csv").open(encoding="utf-8-sig", newline="") as stream:
        errors = [row["error"] for row in csv.DictReader(stream)]
    assert errors == [
        "淘宝.csv:3: 商品名称：按淘宝的算法是 62 个字符（一个汉字算两个），淘宝最多允许 60 个",
        "淘宝.csv:4: attr:taobao:cid：必须是淘宝类目 ID（纯数字）",
    ]
    # English where the locale is not Chinese, and --json the same in both.
    english = run(["validate", "淘宝.csv", "--json"], LANG="C")
    chinese = run(["validate", "淘宝.csv", "--json"], LANG="zh_CN.UTF-8")
    assert english == chinese
    assert "must be a Taobao category id (digits)" in english[1]


def test_upload_warns_of_an_ignored_column_in_chinese(workdir: Path) -> None:
    (workdir / "备注.csv").write_text(
        "商品编码,商品名称,价格,库存,备注\nA-1,好商品,10.00,5,x\n", encoding="utf-8"
    )
    code, _out, err = run(["upload", "备注.csv", "--sandbox"], LANG="zh_CN.UTF-8")
    assert code == 0
    assert err.splitlines()[0] == (
        "警告：备注.csv: 列 '备注' 不是商品字段，已忽略；如要保留为属性，请改名为 "
        "'attr:备注' 或加 --map attr:备注=备注；或用 --map 字段=备注 指定对应字段。"
    )


def test_upload_to_the_sandbox_in_chinese(workdir: Path) -> None:

    code, out, _err = run(["upload", "商品.csv", "--sandbox"], LANG="zh_CN.UTF-8")
    assert code == 3
    lines = out.splitlines()
    assert lines[:3] == [
        "商品.csv:3: 商品编码: 必填",
        "商品.csv:4: 价格: 应大于 0（值：'-3'）",
        "商品.csv:5: 库存: 不是整数（值：'很多'）",
    ]
    summary = next(line for line in lines if line.startswith("完成，用时"))
    assert re.fullmatch(
        r"完成，用时 [0-9.]+ 秒（每秒 \d+ 个商品）：新建 1 个，更新 0 个，未变 0 个，"
        r"失败 0 个，拒收 3 行；请求 \d+ 次，重试 0 次，限流 0 次。",
        summary,
    )
    assert any(line.startswith("拒收的行已写入 ") for line in lines)


def _without_names(text: str) -> str:
    """``text`` without what may stay English: paths, quoted values, flags, codes, URLs."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`|shopsync [a-z ]+", "", text)
    text = re.sub(r"https?://\S+|[\w./-]+\.(csv|json|jsonl|tsv|xlsx)\b|--?[\w-]+", "", text)
    return re.sub(r"\b[A-Z_]{2,}\b|\b[A-Z]+[a-z]*-\d+\b", "", text)


_ENGLISH_SENTENCE = re.compile(r"\b[A-Za-z]{2,}[,;:]? [A-Za-z]{2,}\b")


def test_no_english_sentence_is_left_in_what_a_person_reads(workdir: Path) -> None:
    outputs = [
        run(["validate", "商品.csv", "-v"], LANG="zh_CN.UTF-8"),
        run(["upload", "商品.csv", "--sandbox"], LANG="zh_CN.UTF-8"),
        run(["plan", "商品.csv", "--sandbox"], LANG="zh_CN.UTF-8"),
        run(["validate", "没有.csv"], LANG="zh_CN.UTF-8"),
        run(["--help"], LANG="zh_CN.UTF-8"),
        run(["upload", "--help"], LANG="zh_CN.UTF-8"),
        run(["stock", "--help"], LANG="zh_CN.UTF-8"),
        run(["orders", "--help"], LANG="zh_CN.UTF-8"),
        run(["validate", "--no-such-flag"], LANG="zh_CN.UTF-8"),
    ]
    assert _english_lines(outputs) == []
    # The check itself finds English where there is some.
    assert len(_english_lines([run(["validate", "商品.csv"], LANG="C")])) == 4


def _english_lines(outputs: list[tuple[int, str, str]]) -> list[str]:
    left = []
    for _code, out, err in outputs:
        for line in (out + err).splitlines():
            if line.lstrip().startswith("shopsync "):
                continue  # a command to type
            if _ENGLISH_SENTENCE.search(_without_names(line)):
                left.append(line)
    return left


def test_json_output_is_byte_identical_in_every_language(workdir: Path) -> None:
    for args in (
        ["validate", "商品.csv", "--json"],
        ["validate", "没有.csv", "--json"],
        ["schema"],
    ):
        english = run(args, LANG="C")
        chinese = run(args, LANG="zh_CN.UTF-8")
        assert chinese[0] == english[0]
        assert chinese[1] == english[1]
    report = run(["upload", "商品.csv", "--sandbox", "--report", "en.json"], LANG="C")
    assert report[0] == 3
    assert "Done in" in report[1]


def test_upload_json_and_report_do_not_change_with_the_language(workdir: Path) -> None:
    def normalised(text: str) -> str:
        return re.sub(
            r'"(run_id|started_at|finished_at|elapsed\w*|[a-z_]*seconds)": [^,\n]+', "", text
        )

    first = run(["upload", "商品.csv", "--sandbox", "--json", "--rejects", "en.csv"], LANG="C")
    run(["sandbox", "reset"], LANG="C")
    second = run(
        ["upload", "商品.csv", "--sandbox", "--json", "--rejects", "zh.csv"],
        LANG="zh_CN.UTF-8",
    )
    assert first[0] == second[0] == 3
    assert normalised(first[1]).replace("en.csv", "X") == normalised(second[1]).replace(
        "zh.csv", "X"
    )


def test_help_is_in_chinese_with_clicks_own_words(workdir: Path) -> None:
    code, out, _err = run(["upload", "--help"], LANG="zh_CN.UTF-8")
    assert code == 0
    assert out.startswith(
        "用法: shopsync upload [OPTIONS] FILES...\n\n  校验 FILES，规划变更，并发送到平台。\n"
    )
    assert "\n选项:\n" in out
    assert "只要有一行无效，就什么都不发送。" in out
    assert "显示本帮助并退出。" in out
    code, out, _err = run(["--help"], LANG="zh_TW.UTF-8")  # Traditional: Simplified text
    assert code == 0
    assert "\n命令:\n" in out
    assert "  validate  按商品规则检查商品表格 FILES，不发送任何内容。\n" in out
    english = run(["--lang", "en", "upload", "--help"], LANG="zh_CN.UTF-8")[1]
    assert english.startswith("Usage: shopsync upload [OPTIONS] FILES...")
    assert "Send nothing if any row is invalid." in english


def test_lang_flag_overrides_the_locale_and_an_unknown_one_is_a_usage_error(
    workdir: Path,
) -> None:
    code, out, _err = run(["validate", "商品.csv", "--lang", "zh"], LANG="C")
    assert code == 3
    assert "商品.csv:3: 商品编码: 必填" in out
    code, out, _err = run(["--lang", "en", "validate", "商品.csv"], SHOPSYNC_LANG="zh")
    assert "商品.csv:3: 商品编码: is required" in out
    code, _out, err = run(["--lang", "xx", "validate", "商品.csv"])
    assert code == 2
    assert "Invalid value for '--lang': 'xx' is not one of 'en', 'zh'." in err
    code, _out, err = run(["validate", "商品.csv", "--lang", "xx"], LANG="zh_CN.UTF-8")
    assert code == 2
    assert "'--lang' 的值无效：'xx' 不是可选值之一：'en', 'zh'。" in err


def test_errors_and_hints_are_in_chinese(workdir: Path) -> None:
    code, _out, err = run(["validate", "没有.csv"], LANG="zh_CN.UTF-8")
    assert code == 3
    assert err == "错误：没有.csv：文件不存在。\n"
    code, _out, err = run(["validate", "商品.csv", "--encoding", "klingon"], LANG="zh_CN.UTF-8")
    assert code == 3
    assert err.splitlines() == [
        "错误：未知的编码 'klingon'。",
        "提示：可以试试 utf-8、utf-16、gb18030、cp1252 或 latin-1。",
    ]


@pytest.fixture
def platform_env(
    sandbox: SandboxHandle, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    monkeypatch.setenv("SHOPSYNC_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("SHOPSYNC_CLIENT_ID", sandbox.client_id)
    monkeypatch.setenv("SHOPSYNC_CLIENT_SECRET", sandbox.client_secret)
    yield workdir


def test_failed_file_keeps_its_code_and_tells_its_message_in_the_language(
    platform_env: Path,
) -> None:
    assert run(["upload", str(ROOT / "examples" / "products.csv")])[0] == 0
    (platform_env / "库存.csv").write_text("sku,stock\nNO-SUCH-SKU,4\n", encoding="utf-8")

    def failed_rows(name: str, **env: str) -> list[dict[str, str]]:
        code, _out, _err = run(["stock", "库存.csv", "--failed", name, "--force"], **env)
        assert code == 1
        with (platform_env / name).open(encoding="utf-8", newline="") as stream:
            return list(csv.DictReader(stream))

    english = failed_rows("failed-en.csv", LANG="C")
    chinese = failed_rows("failed-zh.csv", LANG="zh_CN.UTF-8")
    assert [row["error_code"] for row in chinese] == [row["error_code"] for row in english]
    assert english[0]["error_code"] == "SKU_NOT_FOUND"
    assert english[0]["error_message"] == (
        "no product with this SKU on the platform; stock updates never create products"
    )
    assert chinese[0]["error_message"] == "平台上没有这个 SKU 编码的商品；更新库存不会新建商品"


def test_the_installed_entry_point_speaks_chinese(workdir: Path) -> None:
    script = Path(sys.executable).with_name("shopsync")
    environ = {key: value for key, value in os.environ.items() if key != "SHOPSYNC_LANG"}
    environ.update(LANG="zh_CN.UTF-8", LC_ALL="", LC_MESSAGES="")
    result = subprocess.run(
        [str(script), "validate", "商品.csv"],
        capture_output=True,
        text=True,
        env=environ,
        cwd=workdir,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3
    assert "商品.csv:3: 商品编码: 必填" in result.stdout
    environ["LANG"] = "C"
    english = subprocess.run(
        [str(script), "validate", "商品.csv"],
        capture_output=True,
        text=True,
        env=environ,
        cwd=workdir,
        timeout=60,
        check=False,
    )
    assert "商品.csv:3: 商品编码: is required" in english.stdout


def _format_calls(tree: ast.AST) -> Iterator[tuple[int, list[str], set[str] | None]]:
    """``_("...").format(a=...)`` calls: line, the message texts, the keywords (None: **)."""
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and isinstance(node.func.value, ast.Call)
            and isinstance(node.func.value.func, ast.Name)
            and node.func.value.func.id in ("_", "N_", "nN_", "ngettext")
        ):
            continue
        texts = [
            arg.value
            for arg in node.func.value.args
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
        ]
        names = {keyword.arg for keyword in node.keywords}
        yield node.lineno, texts, None if None in names else {n for n in names if n}


def test_every_marked_message_is_given_the_fields_it_names() -> None:
    """A placeholder without its field would fail only when the message is made."""
    missing = []
    for path in sorted((ROOT / "src" / "shopsync").rglob("*.py")):
        for line, texts, given in _format_calls(ast.parse(path.read_text(encoding="utf-8"))):
            if given is None:
                continue
            wanted = {
                name.partition("!")[0].partition(".")[0].partition("[")[0]
                for text in texts
                for name in _placeholders(text)
            }
            if wanted - given:
                missing.append((path.name, line, sorted(wanted - given)))
    assert missing == []


def test_help_follows_the_language_of_each_run_in_one_process(workdir: Path) -> None:
    """click keeps a command's --help option once made; a later run in another language
    (a test session, an embedding program) must not see the first one's words."""
    assert "Show this message and exit." in run(["upload", "--help"], LANG="C")[1]
    assert "显示本帮助并退出。" in run(["upload", "--help"], LANG="zh_CN.UTF-8")[1]
    assert "Show this message and exit." in run(["upload", "--help"], LANG="C")[1]
