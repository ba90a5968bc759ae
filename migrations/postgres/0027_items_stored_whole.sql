-- An item's row (about 2.8 KB with its texts, search words and signature) stays whole in its
-- page instead of having its texts compressed to fit under 2 KB (issue 15). Compressing them,
-- LZ4 since 0020, was still a fifth of inserting a first fetch's items (copying 25,000 rows:
-- 2.41–2.47 s with it, 1.93–2.01 s without); a first fetch of 25,000 items took 6.30–7.28 s
-- instead of 6.70–7.73 s in six alternated pairs, for 106 MB of table instead of 89. Rows
-- past 8 KB are still compressed, then moved out of line. Only rows written from now on are
-- stored this way.
alter table items set (toast_tuple_target = 8160);
