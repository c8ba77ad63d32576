"""Pseudonyms: a secret key per installation, long enough, stable; applicant columns."""

import hashlib
import hmac
import os
import stat
import time

import pandas as pd
import pytest

import procmine
from procmine.log.eventlog import write_atomic
from procmine.privacy import Masker, is_applicant_column, is_resident_id, load_key

ID = "11010519491231002X"  # valid GB 11643 check digit
MOBILE = "13812345678"


def test_check_digit():
    assert is_resident_id(ID) and is_resident_id(ID.lower())
    assert not is_resident_id(ID[:-1] + "3")


def test_key_file_created_once_with_0600(tmp_path):
    path = tmp_path / "sub" / "mask.key"
    env = {"PROCMINE_MASK_KEY_FILE": str(path)}
    key = load_key(env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(path.read_text().strip())) == 32  # 32 random bytes, as hex text
    assert load_key(env) == key  # read back, not re-created
    other = load_key({"PROCMINE_MASK_KEY_FILE": str(tmp_path / "other.key")})
    assert other != key


def test_environment_key_wins_and_must_be_long(tmp_path):
    env = {"PROCMINE_MASK_KEY": "a shared secret of some length", "PROCMINE_MASK_KEY_FILE": str(tmp_path / "k")}
    assert load_key(env) == b"a shared secret of some length"
    assert not (tmp_path / "k").exists()
    with pytest.raises(procmine.ConfigError, match="too short"):
        load_key({"PROCMINE_MASK_KEY": "short"})


def test_damaged_key_file_is_an_error(tmp_path):
    (tmp_path / "k").write_text("abc")
    with pytest.raises(procmine.ConfigError, match="damaged"):
        load_key({"PROCMINE_MASK_KEY_FILE": str(tmp_path / "k")})


def test_default_key_file_is_used_by_the_masker(tmp_path, monkeypatch):
    path = tmp_path / "conf" / "mask.key"
    monkeypatch.setenv("PROCMINE_MASK_KEY_FILE", str(path))
    assert Masker(enabled=False).text(ID) == ID and not path.exists()  # no key needed, none made
    first = Masker().text(ID)
    assert path.exists()
    assert Masker().text(ID) == first  # stable for the same key: two periods stay comparable


def test_pseudonym_is_a_keyed_hmac_of_80_bits():
    key = b"0123456789abcdef0123"
    p = Masker(key=key).text(MOBILE)
    kind, code = p.split("-")
    assert kind == "手机" and len(code) == 16  # base32: 80 bits
    import base64
    assert code == base64.b32encode(hmac.new(key, MOBILE.encode(), hashlib.sha256).digest()[:10]).decode()
    assert Masker(key=b"another key of enough length").text(MOBILE) != p
    # the old public key b"procmine" no longer gives it
    assert hmac.new(b"procmine", MOBILE.encode(), hashlib.sha256).hexdigest()[:8].upper() not in p
    # lengths and formats are hidden: every pseudonym of a kind has the same length
    assert len(Masker(key=key).text("13900000000")) == len(p)


def test_text_masks_ids_mobiles_and_known_names_in_one_pass():
    log = pd.DataFrame({"申请人": ["张三丰", "AB", "无", "ABCDEF"], "联系电话": [13700001111, None, None, None]})
    m = Masker(key=b"k" * 20).learn(log)
    out = m.text(f"申请人张三丰（{ID}，{MOBILE}）；联系13700001111；ABCDEF公司；无；fill=#AB0000")
    assert "张三丰" not in out and ID not in out and MOBILE not in out and "13700001111" not in out
    assert "ABCDEF公司" not in out  # a learned name is replaced wherever it appears
    assert "fill=#AB0000" in out  # short ASCII codes are not searched for (markup stays intact)
    assert "；无；" in out  # placeholders are not searched for
    assert out.count("申请人-") == 2 and "身份证-" in out and "手机-" in out and "电话-" in out
    # pseudonyms are never re-masked (one pass): a name that occurs in a pseudonym's alphabet is safe
    assert m.text(out) == out


@pytest.mark.parametrize("header, expected", [
    ("申请人", True), ("申请人姓名", True), ("申请单位", True), ("申请企业", True), ("申报单位", True), ("申报人", True),
    ("企业名称", True), ("单位名称", True), ("委托人", True), ("代理人", True), ("法定代表人", True), ("联系人", True),
    ("联系电话", True), ("证件号码", True), ("身份证号", True), ("统一社会信用代码", True), ("申请人（必填）", True),
    (" 申请人 ", True), ("申请人电话", True), ("applicant", True), ("applicant_id", True),
    ("承办部门", False), ("承办单位", False), ("经办人", False), ("办理环节", False), ("申请时间", False),
    ("企业类型", False), ("单位", False), ("事项名称", False), ("case_id", False)])
def test_applicant_columns(header, expected):
    assert is_applicant_column(header) is expected


def test_frame_masks_columns_and_text_and_leaves_the_input_alone():
    df = pd.DataFrame({"case_id": pd.array([ID, "A-1"], dtype="string"),
                       "申请人": pd.array(["王五", "李"], dtype="string"),
                       "证件号码": ["E1234567", "G7654321"],
                       "备注": ["王五已补交", None],
                       "materials": [["王五的身份证", "营业执照"], []],
                       "phone_as_number": pd.array([13812345678, 1], dtype="Int64"),
                       "events": [3, 4]})
    before = df.copy()
    m = Masker(key=b"k" * 20).learn(df)
    out = m.frame(df)
    pd.testing.assert_frame_equal(df, before)  # no mutation of the caller's data
    flat = out.astype(str).to_string()
    for raw in (ID, "王五", "E1234567", "G7654321", MOBILE):
        assert raw not in flat
    assert out.loc[1, "申请人"].startswith("申请人-")  # one-character values: masked in their column
    assert out.loc[1, "case_id"] == "A-1" and out["events"].tolist() == [3, 4]
    assert out.loc[0, "materials"][1] == "营业执照"
    assert Masker(enabled=False).frame(df).equals(df)


def test_data_walks_dataclasses_and_dicts():
    from dataclasses import dataclass

    @dataclass
    class T:
        rows: list
        png: bytes

    m = Masker(key=b"k" * 20)
    t = T([[ID, 1.5, {"case": MOBILE}]], b"\x89PNG" + ID.encode())
    out = m.data(t)
    assert ID not in str(out.rows) and MOBILE not in str(out.rows) and out.rows[0][1] == 1.5
    assert t.rows[0][0] == ID  # the original is untouched
    assert out.png == t.png  # bytes pass through
    assert ID not in m.json(f'{{"{ID}": ["{MOBILE}", 2]}}')


def test_many_applicant_names_stay_fast():
    names = [f"某某{i:05d}科技有限公司" for i in range(20000)]
    m = Masker(key=b"k" * 20).learn(pd.DataFrame({"企业名称": names}))
    t0 = time.perf_counter()
    texts = [f"{names[i]}提交材料，联系人电话{13800000000 + i}" for i in range(0, 20000, 4)]
    out = [m.text(t) for t in texts]
    assert time.perf_counter() - t0 < 20
    assert all("某某" not in o and "138" not in o for o in out)


def test_outputs_get_the_umask_not_0600(tmp_path):
    old = os.umask(0o027)
    try:
        p = write_atomic(tmp_path / "a.txt", lambda tmp: tmp.write_text("x"))
        assert stat.S_IMODE(p.stat().st_mode) == 0o640
        os.umask(0o002)
        p = write_atomic(tmp_path / "b.txt", lambda tmp: tmp.write_text("x"))
        assert stat.S_IMODE(p.stat().st_mode) == 0o664
    finally:
        os.umask(old)
    assert os.umask(old) == old  # restored
