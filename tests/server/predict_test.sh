#!/usr/bin/env bash
# Predictions over HTTP: models trained through the command line into the store, then
# POST /api/v1/models/{ref}/predict with JSON objects by column, JSON arrays by position and
# CSV text, against `netsmith predict` on the exported model file for the same rows; @version
# and @alias refs, a regression, a text column, and every error status; and the exports
# (GET .../export/{file}: ONNX and C source) against `netsmith model export`.
# usage: predict_test.sh NETSMITH_BINARY SOURCE_DIR
. "$(dirname "$0")/../integration/testlib.sh"
. "$SRC/tests/server/serverlib.sh"

# ---- models in the store, from the command line ------------------------------------------
cat >iris-spec.json <<'EOF'
{"layers": [{"type": "linear", "units": 8}, {"type": "relu"}, {"type": "linear", "units": 3}],
 "training": {"epochs": 6, "batch_size": 16, "learning_rate": 0.02}}
EOF
sed 's/"units": 3/"units": 2/' iris-spec.json >cars-spec.json
cat >house-spec.json <<'EOF'
{"layers": [{"type": "linear", "units": 8}, {"type": "relu"}, {"type": "linear", "units": 1}],
 "training": {"epochs": 4, "batch_size": 32, "learning_rate": 0.01}}
EOF
printf 'size,colour,weight,kind\n' >cars.csv
for i in $(seq 1 40); do
    c=$(echo "red green blue" | cut -d' ' -f$((i % 3 + 1)))
    k=$([ "$i" -le 20 ] && echo small || echo big)
    printf '%d,%s,%d.5,%s\n' "$i" "$c" $((i * 7 % 13)) "$k" >>cars.csv
done
cp "$SRC/data/iris.csv" iris.csv
run 0 arch add iris-mlp iris-spec.json
run 0 arch add house-mlp house-spec.json
run 0 arch add cars-mlp cars-spec.json
run 0 data add iris --data iris.csv
run 0 data add boston --data boston_housing
run 0 data add cars --data cars.csv --one-hot
run 0 model create flowers --arch iris-mlp
run 0 model create house --arch house-mlp
run 0 model create cars --arch cars-mlp
run 0 model create empty --arch iris-mlp
run 0 job submit train --model flowers --data iris --seed 1
run 0 job submit train --model flowers --data iris --seed 2 --epochs 2
run 0 job submit train --model flowers --data iris --seed 3 --epochs 1
run 0 job submit train --model house --data boston --seed 1
run 0 job submit train --model cars --data cars --seed 1 --epochs 2
run 0 worker --once --quiet
run 0 model alias flowers@1 production
run 0 model export flowers@1 -o flowers1.safetensors
run 0 model export flowers@3 -o flowers3.safetensors
run 0 model export house -o house.safetensors
run 0 model export cars -o cars.safetensors

# the server's temporary files go here, to be seen removed
export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR"
start_server --workers 0

# the rows: the first five of each species, as CSV, JSON objects and JSON arrays
{ head -1 iris.csv | cut -d, -f1-4; for s in setosa versicolor virginica; do
    grep ",$s\$" iris.csv | head -5 | cut -d, -f1-4; done; } >rows.csv
python3 - rows.csv >rows.json 3>rows-arrays.json <<'PY'
import csv, json, os, sys
rows = list(csv.DictReader(open(sys.argv[1])))
objs = [{k: float(v) for k, v in r.items()} for r in rows]
# the columns in another order: they are taken by name
objs = [dict(reversed(list(o.items()))) for o in objs]
print(json.dumps({"rows": objs}))
cols = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
os.write(3, json.dumps({"rows": [[float(r[c]) for c in cols] for r in rows]}).encode())
PY
run 0 predict flowers1.safetensors --data rows.csv -o cli1.csv --quiet
run 0 predict flowers3.safetensors --data rows.csv -o cli3.csv --quiet

# same_as_cli WHAT CLI_CSV: the answer's labels and probabilities are netsmith predict's
same_as_cli() {
    if python3 - "$WORK/body" "$2" >"$WORK/cmp" 2>&1 <<'PY'; then pass; else fail "$1" "$(cat "$WORK/cmp")"; fi
import csv, json, struct, sys
ans = json.load(open(sys.argv[1]))
cli = list(csv.DictReader(open(sys.argv[2])))
f32 = lambda x: struct.unpack("f", struct.pack("f", float(x)))[0]
assert ans["task"] == "classification", ans["task"]
assert ans["rows"] == len(cli) == len(ans["predictions"]), (ans["rows"], len(cli))
assert ans["classes"] == [k[2:] for k in cli[0] if k.startswith("p_")], ans["classes"]
for p, c in zip(ans["predictions"], cli):
    assert p["label"] == c["label"], (p["label"], c["label"])
    for name, v in p["probabilities"].items():
        assert f32(v) == f32(c["p_" + name]), (name, v, c["p_" + name])
PY
}

api POST /api/v1/models/flowers@1/predict "$(cat rows.json)" >/dev/null
expect_status "predict with JSON objects" 200
expect_eq "the answer names the version" "$(jq_get .model)" "flowers@1"
expect_eq "the classes are the model's" "$(jq_get .classes)" '["setosa", "versicolor", "virginica"]'
same_as_cli "JSON objects: as netsmith predict" cli1.csv
api POST /api/v1/models/flowers@1/predict "$(cat rows-arrays.json)" >/dev/null
expect_status "predict with JSON arrays" 200
same_as_cli "JSON arrays: as netsmith predict" cli1.csv
api POST /api/v1/models/flowers@1/predict "$(cat rows.csv)" text/csv >/dev/null
expect_status "predict with CSV" 200
same_as_cli "CSV: as netsmith predict" cli1.csv
api POST /api/v1/models/flowers@production/predict "$(cat rows.csv)" 'text/csv; charset=utf-8' >/dev/null
expect_status "predict by an alias" 200
expect_eq "the alias names its version" "$(jq_get .model)" "flowers@1"
same_as_cli "an alias: as netsmith predict on that version" cli1.csv
api POST /api/v1/models/flowers/predict "$(cat rows.json)" >/dev/null
expect_status "predict with the latest version" 200
expect_eq "the latest version" "$(jq_get .model)" "flowers@3"
same_as_cli "the latest version: as netsmith predict on it" cli3.csv
api POST /api/v1/models/flowers@3/predict "$(cat rows.json)" >/dev/null
expect_status "predict again (the model loaded already)" 200
same_as_cli "the loaded model again: the same answer" cli3.csv

# requests at once share one loaded model (one prediction at a time on it), and more models
# than the server keeps loaded push the least recently used out: the answers stay the same
pids=()
for i in 1 2 3 4 5 6; do
    curl -s -o "$WORK/par$i" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/csv' \
        --data-binary @rows.csv "$URL/api/v1/models/flowers@1/predict" &
    pids+=($!)
done
wait "${pids[@]}"
for i in 1 2 3 4 5 6; do cp "$WORK/par$i" "$WORK/body"; same_as_cli "requests at once ($i)" cli1.csv; done
for ref in flowers@3 house cars flowers@2 flowers@1; do
    api POST "/api/v1/models/$ref/predict" "$(cat rows.json)" >/dev/null
done
same_as_cli "after more models than are kept: still the same" cli1.csv

# a regression: boston_housing's rows by column
python3 - >house.json <<PY
import csv, json
rows = list(csv.DictReader(open("$SRC/data/boston_housing.csv")))[:4]
print(json.dumps({"rows": [{k: float(v) for k, v in r.items() if k != "MEDV"} for r in rows]}))
PY
{ head -5 "$SRC/data/boston_housing.csv"; } >house.csv
run 0 predict house.safetensors --data house.csv -o cli-house.csv --quiet
api POST /api/v1/models/house/predict "$(cat house.json)" >/dev/null
expect_status "a regression" 200
if python3 - "$WORK/body" cli-house.csv >"$WORK/cmp" 2>&1 <<'PY'; then pass; else fail "a regression: as netsmith predict" "$(cat "$WORK/cmp")"; fi
import csv, json, struct, sys
ans = json.load(open(sys.argv[1]))
cli = list(csv.DictReader(open(sys.argv[2])))
f32 = lambda x: struct.unpack("f", struct.pack("f", float(x)))[0]
assert ans["task"] == "regression" and ans["targets"] == ["MEDV"], ans
assert len(ans["predictions"]) == len(cli) == 4
for p, c in zip(ans["predictions"], cli):
    assert f32(p["MEDV"]) == f32(c["MEDV"]), (p, c)
PY

# a text column: one-hot with the model's categories; an unseen one is the rows' fault
api POST /api/v1/models/cars/predict '{"rows": [{"size": 3, "colour": "blue", "weight": 2.5}, {"size": 30, "colour": "red", "weight": 9.5}]}' >/dev/null
expect_status "a text column" 200
expect_eq "a text column: the classes" "$(jq_get .classes)" '["big", "small"]'
printf 'size,colour,weight\n3,blue,2.5\n30,red,9.5\n' >cars-rows.csv
run 0 predict cars.safetensors --data cars-rows.csv -o cli-cars.csv --quiet
same_as_cli "a text column: as netsmith predict" cli-cars.csv
api POST /api/v1/models/cars/predict '{"rows": [[3, "blue", 2.5]]}' >/dev/null
expect_status "a text column by position" 200
api POST /api/v1/models/cars/predict '{"rows": [{"size": 3, "colour": "purple", "weight": 2.5}]}' >/dev/null
expect_status "an unseen category" 400
expect_body "an unseen category: named" 'purple'

# ---- errors ------------------------------------------------------------------------------
api POST /api/v1/models/flowers/predict '{"rows": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4}]}' >/dev/null
expect_status "a missing feature column" 400
expect_body "a missing feature column: named" "no column 'petal_width' that the model takes"
expect_no_match "a missing feature column: no temporary path" "$WORK/body" 'netsmith-predict-'
api POST /api/v1/models/flowers/predict '{"rows": []}' >/dev/null
expect_status "no rows" 400
api POST /api/v1/models/flowers/predict '{"rowz": [[1, 2, 3, 4]]}' >/dev/null
expect_status "an unknown key" 400
expect_body "an unknown key: did you mean" "did you mean 'rows'"
api POST /api/v1/models/flowers/predict '{"rows": [[5.1, 3.5, 1.4, 0.2], [5.1, 3.5]]}' >/dev/null
expect_status "ragged rows by position" 400
expect_eq "ragged rows: the row at fault" "$(jq_get .error.path)" "rows[1]"
api POST /api/v1/models/flowers/predict '{"rows": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}, {"sepal_length": 5.1}]}' >/dev/null
expect_status "ragged rows by column" 400
api POST /api/v1/models/flowers/predict '{"rows": [[5.1, 3.5, 1.4, "wide"]]}' >/dev/null
expect_status "text where a number is needed" 400
api POST /api/v1/models/flowers/predict '{"rows": [[5.1, 3.5, 1.4, "NaN"]]}' >/dev/null
expect_status "NaN where a number is needed" 400
api POST /api/v1/models/flowers/predict '{"rows": [[5.1, 3.5, 1.4, null]]}' >/dev/null
expect_status "a null value" 400
expect_eq "a null value: its place" "$(jq_get .error.path)" "rows[0][3]"
api POST /api/v1/models/flowers/predict '{"rows": [[5.1, 3.5, 1.4, 0.2]' >/dev/null
expect_status "a body that is not JSON" 400
printf 'sepal_length,sepal_width,petal_length,petal_width\n' >header-only.csv
api POST /api/v1/models/flowers/predict "$(cat header-only.csv)" text/csv >/dev/null
expect_status "a CSV without rows" 400
api POST /api/v1/models/flowers/predict "" text/csv >/dev/null
expect_status "an empty CSV body" 400
api POST /api/v1/models/flowers/predict "$(cat rows.csv)" text/plain >/dev/null
expect_status "another content type" 415
expect_body "another content type: what to send" "text/csv"
api POST /api/v1/models/flowerz/predict "$(cat rows.json)" >/dev/null
expect_status "an unknown model" 404
expect_body "an unknown model: did you mean" "did you mean 'flowers'"
api POST /api/v1/models/flowers@9/predict "$(cat rows.json)" >/dev/null
expect_status "an unknown version" 404
api POST /api/v1/models/flowers@staging/predict "$(cat rows.json)" >/dev/null
expect_status "an unknown alias" 404
api POST /api/v1/models/empty/predict "$(cat rows.json)" >/dev/null
expect_status "a model with no versions yet" 409
expect_body "no versions yet: said so" 'has no versions yet'
api POST '/api/v1/models/flowers@/predict' "$(cat rows.json)" >/dev/null
expect_status "a malformed ref" 400

# ---- exports: downloads, and the same from the command line ---------------------------------
py=/usr/bin/python3
curl -s -D export-headers -o dl.onnx -H "Authorization: Bearer $TOKEN" \
    "$URL/api/v1/models/flowers/versions/1/export/flowers.onnx"
expect_match "an ONNX download: an attachment" export-headers 'filename="flowers.onnx"'
run 0 model export flowers@1 -o cli.onnx
if cmp -s dl.onnx cli.onnx; then pass; else fail "the ONNX download differs from model export's"; fi
if $py -c 'import onnx' 2>/dev/null; then
    if $py - dl.onnx >onnx-check 2>&1 <<'PY'
import json, sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
meta = {p.key: p.value for p in m.metadata_props}
assert json.loads(meta["classes"]) == ["setosa", "versicolor", "virginica"], meta["classes"]
assert m.graph.output[0].name == "probabilities"
PY
    then pass; else fail "the ONNX download does not check" "$(cat onnx-check)"; fi
else
    echo "note: python3-onnx is not installed: the ONNX download is not checked by onnx.checker"
fi
api GET '/api/v1/models/flowers/versions/production/export/flowers.onnx?opset=13' >/dev/null
expect_status "an ONNX download at opset 13, by alias" 200
curl -s -o edge.c -H "Authorization: Bearer $TOKEN" \
    "$URL/api/v1/models/flowers/versions/1/export/edge.c?name=edge"
curl -s -D export-headers -o edge.h -H "Authorization: Bearer $TOKEN" \
    "$URL/api/v1/models/flowers/versions/1/export/edge.h?name=edge"
expect_match "a C header download: its type" export-headers 'text/x-c'
if cc -std=c99 -Wall -Wextra -Werror -pedantic -O2 -c edge.c -o edge.o 2>cc-err; then pass; else
    fail "the C download does not compile" "$(cat cc-err)"; fi
expect_match "the C download: its function" edge.h 'int edge_predict\(const float \*x, int n, float \*y\);'
api GET /api/v1/models/flowers/versions/1/export/flowers.txt >/dev/null
expect_status "a download of no export format" 400
expect_body "no export format: what to ask for" 'NAME.onnx'
api GET '/api/v1/models/flowers/versions/1/export/flowers.onnx?opset=9' >/dev/null
expect_status "an opset out of range" 400
api GET '/api/v1/models/flowers/versions/1/export/flowers.onnx?name=f' >/dev/null
expect_status "a C name for an ONNX download" 400
api GET '/api/v1/models/flowers/versions/1/export/flowers.c?name=9lives' >/dev/null
expect_status "a name that is no C identifier" 400
expect_body "no C identifier: said so" 'not a C identifier'
api GET '/api/v1/models/flowers/versions/1/export/%22q.onnx' >/dev/null
expect_status "a file name with a quote" 400
api GET /api/v1/models/flowers/versions/9/export/flowers.onnx >/dev/null
expect_status "the export of an unknown version" 404
api GET /api/v1/models/empty/versions/1/export/empty.onnx >/dev/null
expect_status "the export of a model with no versions" 404
run 0 model export flowers@1 -o flowers-edge.c
expect_match "model export -o NAME.c: the header beside it" flowers-edge.h 'FLOWERS_EDGE_INPUT_SIZE 4'
run 0 model export house --format c -o house-c
expect_match "model export --format c: the source" house-c.c 'int house_c_predict'
run 0 model export flowers@1 --format safetensors -o weights.bin
if cmp -s weights.bin flowers1.safetensors; then pass; else fail "--format safetensors: not the weights"; fi
run 2 model export flowers@1 --format tflite -o x.tflite
expect_match "model export --format tflite: the formats" err 'onnx'
run 2 model export flowers@1 -o model.bin --opset 13
stop_server

start_server --workers 0 --max-body 2048
api POST /api/v1/models/flowers/predict "$(python3 -c 'print("{\"rows\": [" + ",".join(["[5.1, 3.5, 1.4, 0.2]"] * 200) + "]}")')" >/dev/null
expect_status "a body over the limit" 413
stop_server

expect_eq "no temporary file is left" "$(ls -A "$TMPDIR" | wc -l)" 0
finish
