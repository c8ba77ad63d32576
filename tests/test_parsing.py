import pandas as pd
import pytest

from procmine.log.parsing import damaged_ids, parse_bool, parse_sla, parse_times, split_materials


def ts(text):
    return pd.Timestamp(text, tz="Asia/Shanghai")


def test_mixed_formats_in_one_column():
    values = pd.Series(["2024-03-05 14:05:00", "2024/3/5 9:12", "2024年3月5日 14:05", "2024.03.05", "2024-03-05",
                        "45356.5", "20240305", "２０２４-０３-０５ ０８:００", "2024年3月5日下午2:05", None, ""])
    times, failed = parse_times(values)
    assert not failed.any()
    assert list(times[:9]) == [ts("2024-03-05 14:05"), ts("2024-03-05 09:12"), ts("2024-03-05 14:05"),
                               ts("2024-03-05"), ts("2024-03-05"), ts("2024-03-05 12:00"), ts("2024-03-05"),
                               ts("2024-03-05 08:00"), ts("2024-03-05 14:05")]
    assert times[9:].isna().all()


def test_excel_datetime_and_serial_numbers():
    times, failed = parse_times(pd.Series([45356.25, 45357.0]))
    assert not failed.any()
    assert list(times) == [ts("2024-03-05 06:00"), ts("2024-03-06")]


def test_offsets_are_converted_to_shanghai_time():
    times, failed = parse_times(pd.Series(["2014-04-10 22:00:00+00:00", "2024-03-05T06:00:00Z"]))
    assert not failed.any()
    assert list(times) == [ts("2014-04-11 06:00"), ts("2024-03-05 14:00")]


def test_epoch_seconds_and_milliseconds():
    times, _ = parse_times(pd.Series(["1709618700", "1709618700000"]))
    assert list(times) == [ts("2024-03-05 14:05"), ts("2024-03-05 14:05")]


@pytest.mark.parametrize("bad", ["待定", "2024-13-45", "2024/02/30 10:00", "25:00", "abc 2024"])
def test_unparseable_times_are_flagged_not_guessed(bad):
    times, failed = parse_times(pd.Series([bad, "2024-03-05"]))
    assert list(failed) == [True, False]
    assert pd.isna(times[0])


def test_input_series_is_not_modified():
    values = pd.Series(["2024/3/5 9:12", " 2024-03-05 "])
    before = values.copy()
    parse_times(values)
    pd.testing.assert_series_equal(values, before)


def test_yes_no_dialects():
    flags, failed = parse_bool(pd.Series(["是", "否", "Y", "n", "√", "×", "1", "0", " 是 ", None, "也许"]))
    assert list(flags[:9]) == [True, False, True, False, True, False, True, False, True]
    assert pd.isna(flags[9]) and pd.isna(flags[10])
    assert list(failed) == [False] * 10 + [True]


def test_material_lists_split_on_every_separator():
    cells = pd.Series(["营业执照、身份证，章程,住所证明；租赁合同;设备图\n平面图", " 1.营业执照\u3000、 (2)《身份证》 ", None])
    out = split_materials(cells)
    assert out[0] == ["营业执照", "身份证", "章程", "住所证明", "租赁合同", "设备图", "平面图"]
    assert out[1] == ["营业执照", "身份证"]
    assert out[2] == []


def test_time_limits():
    work, cal, failed, _ = parse_sla(pd.Series(["10", "10个工作日", "10工作日", "即办", "15天", "20个自然日", 7, "看情况", None]))
    assert list(work[:4]) == [10, 10, 10, 0]
    assert list(cal[4:6]) == [15, 20]
    assert work[6] == 7
    assert list(failed) == [False] * 7 + [True, False]


def test_ids_excel_damaged():
    s = pd.Series(["3.10101E+17", "QY001", "310101199001011000", "20240001"])
    assert list(damaged_ids(s, numeric=False)) == [True, False, False, False]
    assert list(damaged_ids(s, numeric=True)) == [True, False, True, False]


def test_fractional_seconds_and_dotted_dates():
    times, failed = parse_times(pd.Series(["2024-01-02 12:47:23.862", "2024.3.5 10:00", "2024.03.05"]))
    assert not failed.any()
    assert list(times) == [ts("2024-01-02 12:47:23.862"), ts("2024-03-05 10:00"), ts("2024-03-05")]


@pytest.mark.parametrize("bad", ["2024-02-30 10:00:00", "2023-02-29", "2024/4/31 9:00", "2024年2月30日"])
def test_impossible_dates_are_rejected_not_rolled_over(bad):
    times, failed = parse_times(pd.Series([bad]))
    assert failed.iloc[0] and pd.isna(times.iloc[0])


@pytest.mark.parametrize("bad", ["2024/3/5 9:12:60", "2024/3/31 24:00", "2024.2.30", "2023年2月29日 10:00",
                                 "2024/3/514:05"])
def test_impossible_slash_and_chinese_dates_fail_on_every_path(bad):
    # strptime would roll 9:12:60 over to 9:13 and 2.30 to 3.1; the day after a 5 glued to the hour is not a day
    times, failed = parse_times(pd.Series([bad, "2024/3/5 9:12:59", "2024年3月1日 0:00"]))
    assert list(failed) == [True, False, False]
    assert list(times[1:]) == [ts("2024-03-05 09:12:59"), ts("2024-03-01")]


def test_one_impossible_iso_date_does_not_spoil_the_column():
    times, failed = parse_times(pd.Series(["2024-02-30 10:00:00", "2024-03-05 14:05:00.5", "2024-03-05"]))
    assert list(failed) == [True, False, False]
    assert list(times[1:]) == [ts("2024-03-05 14:05:00.5"), ts("2024-03-05")]


def test_values_padded_with_any_unicode_space_parse():
    # Unicode White_Space (PropList.txt): TAB..CR, U+001C..U+001F, NEL, NBSP, OGHAM, EN QUAD..HAIR, LS, PS,
    # NNBSP, MMSP, IDEOGRAPHIC SPACE
    spaces = ["\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1f", "\x85", "\xa0", "\u1680", "\u2000", "\u200a",
              "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
    values = pd.Series([f"{s}2024-03-05 14:05:00{s}" for s in spaces] + [f"{s}2024/3/5 9:12" for s in spaces])
    times, failed = parse_times(values)
    assert not failed.any()
    assert set(times[: len(spaces)]) == {ts("2024-03-05 14:05")}
    assert set(times[len(spaces):]) == {ts("2024-03-05 09:12")}


def test_long_repetitive_text_column_normalised_like_a_short_one():
    from procmine.log.parsing import normalize_text

    # 80,000 rows with four distinct values: normalised once per value, the same result as row by row
    values = pd.Series(["Ａ局 ", "\u3000", None, "政务服务中心"] * 20000, dtype="string")
    out = normalize_text(values)
    assert list(out[:4].fillna("<NA>")) == ["A局", "<NA>", "<NA>", "政务服务中心"]
    assert out.isna().sum() == 40000 and (out[3::4] == "政务服务中心").all()
    assert out.index.equals(values.index)
