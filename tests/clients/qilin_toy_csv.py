"""Writes a corpus in the layout of Qilin's official toy sample (`datasets/toy_data/*.csv` of
the Qilin repository) the way that sample was made: pandas `DataFrame.to_csv` of frames whose
nested cells hold numpy arrays (as `datasets` hands them to pandas), lists of dicts and lists
of arrays. So the fixture has numpy's text forms — space separated, wrapped at 75 characters,
exponent floats, `array([...])` items, `nan` — written by numpy and pandas, not by recdata.

Columns and their order are those of the real toy files. Notes 0..5 and users 0..5 exist; the
logs also name notes that are not in `notes` (as the real sample does: its tables are ten rows
cut independently). One row of each kind is damaged on purpose.

Usage: qilin_toy_csv.py <out dir>. Prints a JSON summary (rows per file).
"""

import json
import os
import sys

import numpy as np
import pandas as pd

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
NOTE_NUMERIC = (
    "video_duration video_height video_width image_num content_length commercial_flag".split()
)
COUNTERS = (
    "imp_num imp_rec_num imp_search_num click_num click_rec_num click_search_num like_num "
    "collect_num comment_num share_num screenshot_num hide_num rec_like_num rec_collect_num "
    "rec_comment_num rec_share_num rec_follow_num search_like_num search_collect_num "
    "search_comment_num search_share_num search_follow_num accum_like_num accum_collect_num "
    "accum_comment_num view_time rec_view_time search_view_time valid_view_times "
    "full_view_times"
).split()

notes = []
for i in range(6):
    row = {"note_title": f"笔记 {i}, 标题", "note_content": f"内容\n第二行 {i} #话题[话题]# "}
    row["note_type"] = float(1 + i % 2)
    for c in NOTE_NUMERIC:
        row[c] = float(rng.integers(0, 2000))
    row["taxonomy1_id"] = "5ab094be481d26b8ef9045f1" if i != 3 else np.nan
    row["taxonomy2_id"] = f"c0000000000000000000048{i}"
    row["taxonomy3_id"] = f"c0000000000000000000049{i}"
    for c in COUNTERS:
        row[c] = float(rng.integers(0, 100000))
    row["note_idx"] = i
    # Several image paths: numpy wraps the repr over lines.
    row["image_path"] = np.array(
        [f"image/part_{i}/{1000 + i}/{k}.jpg" for k in range(1 + 3 * (i % 3))], dtype=object
    )
    row["note_embedding"] = rng.standard_normal(24).astype(np.float32)
    notes.append(row)
pd.DataFrame(notes).to_csv(f"{out}/notes.csv", index=False)

users = []
for u in range(6):
    row = {"gender": ["female", "male", "unknown"][u % 3], "platform": ["iOS", "Android"][u % 2], "age": "16-18"}
    row["fans_num"] = float(u * 3)
    row["follows_num"] = float(u * 7)
    for k in range(1, 41):
        row[f"dense_feat{k}"] = float(rng.random())
    row["location"] = "北京" if u != 2 else np.nan
    row["user_idx"] = u
    users.append(row)
pd.DataFrame(users).to_csv(f"{out}/user_feat.csv", index=False)


def details(ts_key, ts, notes_idx, clicks, page_nan=True):
    out = []
    for pos, (n, c) in enumerate(zip(notes_idx, clicks), start=1):
        out.append(
            {
                "click": float(c) if page_nan else int(c),
                "collect": 0.0,
                "comment": 0.0,
                "like": float(c and pos == 1),
                "note_id": f"{n:024x}",
                "note_idx": int(n),
                "page_time": (float(rng.integers(1, 60)) if c else (np.nan if page_nan else -1.0)),
                "position": float(pos),
                ts_key: ts + pos,
                "share": 0.0,
            }
        )
    return np.array(out, dtype=object)


def recent(n):
    return rng.integers(100000, 2000000, size=n)


def pairs(n):
    # [note_idx, score] as numpy float arrays: `array([1.964926e+06, 3.209014e+02])`
    return [np.array([float(rng.integers(0, 2000000)), float(rng.random() * 300)]) for _ in range(n)]


search_train = []
for r in range(5):
    search_train.append(
        {
            "query": f"查询 {r}",
            "query_from_type": float(1 + r % 3),
            "recent_clicked_note_idxs": recent(20),
            "search_result_details_with_idx": details(
                "search_timestamp", 1732475484.0 + 100 * r, [r, 1500000 + r, (r + 1) % 6], [1, 0, r % 2]
            ),
            "search_idx": r,
            "session_idx": 100 + r // 2,
            "user_idx": r % 6,
            "dpr_results": pairs(4),
            "question_embedding": rng.standard_normal(16).astype(np.float32),
        }
    )
# Damaged on purpose: a result entry without any timestamp.
search_train[4]["search_result_details_with_idx"] = np.array(
    [{"click": 1.0, "note_idx": 2, "position": 1.0}], dtype=object
)
pd.DataFrame(search_train).to_csv(f"{out}/search_train.csv", index=False)

search_test = []
for r in range(4):
    search_test.append(
        {
            "query": f"测试查询 {r}",
            "query_from_type": float(1 + r % 2),
            "recent_clicked_note_idxs": recent(5),
            "search_result_details_with_idx": details(
                "search_timestamp", 1732600000.0 + 50 * r, [r + 2, 1600000 + r], [0, 1]
            ),
            "search_idx": 10 + r,
            "session_idx": 200 + r,
            "user_idx": (r + 1) % 6,
            "bm25_results": pairs(3),
            "dpr_results": pairs(3),
            "search_results": pairs(2),
            "question_embedding": rng.standard_normal(16).astype(np.float32),
        }
    )
pd.DataFrame(search_test).to_csv(f"{out}/search_test.csv", index=False)

rec_train = []
for r in range(5):
    rec_train.append(
        {
            "recent_clicked_note_idxs": recent(7),
            "rec_result_details_with_idx": details(
                "request_timestamp", 1732668760025 + 1000 * r, [r, (r + 2) % 6, 1700000 + r, 3], [0, 1, 0, r % 2], page_nan=False
            ),
            "request_idx": 20 + r,
            "session_idx": 300 + r,
            "user_idx": (r + 2) % 6,
            "query": f"最近搜索 {r} 另一个",
            "question_embedding": rng.standard_normal(16).astype(np.float32),
        }
    )
pd.DataFrame(rec_train).to_csv(f"{out}/recommendation_train.csv", index=False)

rec_test = []
for r in range(3):
    rec_test.append(
        {
            "recent_clicked_note_idxs": recent(3),
            "rec_result_details_with_idx": details(
                "request_timestamp", 1732700000000 + 1000 * r, [r + 1, 1800000 + r], [1, 0], page_nan=False
            ),
            "request_idx": 30 + r,
            "session_idx": 400 + r,
            "user_idx": (r + 3) % 6,
            "rec_results": pairs(3),
            "query": np.nan,
            "question_embedding": rng.standard_normal(16).astype(np.float32),
        }
    )
pd.DataFrame(rec_test).to_csv(f"{out}/recommendation_test.csv", index=False)

dqa = []
for r in range(4):
    dqa.append(
        {
            "query": f"问答 {r}",
            "query_from_type": 2.0,
            "dqa_output": "-1" if r % 2 else f"回答 {r}",
            "is_like_clk": -1.0 if r % 2 else 1.0,
            "is_onebox_trace_clk": -1.0,
            "is_content_clk": 0.0,
            "is_experience_clk": -1.0,
            "recent_clicked_note_idxs": recent(10),
            "ref_note_idx_list": np.array([1, 1900000 + r]) if r != 1 else np.array([]),
            "search_result_details_with_idx": details(
                "search_timestamp", 1732667595 + 10 * r, [r, 1950000 + r], [1, 0]
            ),
            "session_idx": 500 + r,
            "search_idx": 40 + r,
            "user_idx": r % 6,
            "bm25_results": pairs(2),
            "dpr_results": pairs(2),
        }
    )
pd.DataFrame(dqa).to_csv(f"{out}/dqa.csv", index=False)

summary = {
    "notes": len(notes),
    "user_feat": len(users),
    "search_train": len(search_train),
    "search_test": len(search_test),
    "recommendation_train": len(rec_train),
    "recommendation_test": len(rec_test),
    "dqa": len(dqa),
}
print(json.dumps(summary))
