#!/usr/bin/env bash
# Walk one prior-authorization case through its whole lifecycle with curl:
#
#   create (needs_input) -> patch answers (ready_to_submit) -> submit (pending_payer)
#   -> sandbox more_info_request (action_required) -> upload a PDF -> attach it
#   -> resolve the payer's action (ready_to_submit) -> submit again (pending_payer)
#   -> sandbox approval (completed / approved)
#
# then print the event log in order and download the submitted packet to ./packet.pdf.
#
#   SECRET=pa_sk_... ./examples/lifecycle.sh
#   BASE_URL=http://127.0.0.1:8765 SECRET=pa_sk_... ./examples/lifecycle.sh
#
# Needs curl and python3 (python3 only reads fields out of JSON responses).
# SECRET is the admin client secret `priorauth serve` writes on first start to
# <data dir>/first-admin-secret (SECRET=$(cat ~/.priorauth/first-admin-secret)), or one from
# `priorauth clients create`. The script also plays the sandbox payer, which only an admin client
# may, or any client once `priorauth orgs sandbox --org <org> --on` ran; never with
# PRIORAUTH_ENV=production. See docs/api.md for every route used here.
set -euo pipefail

BASE_URL="${BASE_URL:-http://127.0.0.1:8000}"
BASE_URL="${BASE_URL%/}"
: "${SECRET:?set SECRET to an API client secret (see above)}"
AUTHS="/v1/prior-auth/authorizations"
RUN="$(date +%s)-$$"                     # makes the idempotency keys unique per run

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# --------------------------------------------------------------------------- helpers

# call NAME EXPECTED_STATUS METHOD PATH [curl args...]
# Body goes to $WORK/NAME.json, headers to $WORK/NAME.headers. Any other status stops the script
# and shows the error envelope ({"error": {"code", "message", ...}, "requestId"}).
call() {
  local name=$1 expected=$2 method=$3 path=$4
  shift 4
  local status
  status=$(curl -sS -X "$method" "$BASE_URL$path" \
    -H "Authorization: Bearer $SECRET" \
    -H "X-Request-Id: lifecycle-$RUN-$name" \
    -o "$WORK/$name.json" -D "$WORK/$name.headers" -w '%{http_code}' "$@") || {
    echo "curl could not reach $BASE_URL ($method $path)" >&2; exit 1; }
  if [ "$status" != "$expected" ]; then
    echo "FAILED: $method $path -> HTTP $status (expected $expected)" >&2
    cat "$WORK/$name.json" >&2; echo >&2
    exit 1
  fi
}

# jget NAME dotted.path   (list indexes are numbers: data.0.id)
jget() {
  python3 -c '
import json, sys
value = json.load(open(sys.argv[1]))
for part in filter(None, sys.argv[2].split(".")):
    value = value[int(part)] if isinstance(value, list) else value[part]
print(value if isinstance(value, str) else json.dumps(value))
' "$WORK/$1.json" "$2"
}

# header NAME Header-Name
header() {
  grep -i "^$2:" "$WORK/$1.headers" | tail -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'
}

# show STEP NAME [prefix]: one line with the states and version of an authorization response
show() {
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
if len(sys.argv) > 3:
    d = d[sys.argv[3]]
actions = [a["type"] for a in d.get("openActions") or []]
print("%-34s workflowState=%-16s decisionState=%-9s version=%-3s validationIssues=%d openActions=%s" % (
    sys.argv[2], d["workflowState"], d["decisionState"], d["version"], len(d.get("validationIssues") or []),
    actions))
' "$WORK/$2.json" "$1" ${3:+"$3"}
}

json() { printf '%s' "$1" > "$WORK/body.json"; echo "$WORK/body.json"; }

# --------------------------------------------------------------------------- the case

# The total-knee-arthroplasty case, without answers (creation succeeds in needs_input), and the
# complete questionnaire answers. The tests and the benchmark use the same two files.
HERE="$(cd "$(dirname "$0")" && pwd)"
CASE="$HERE/tka-case.json"
ANSWERS="$HERE/tka-answers.json"

call health 200 GET /health
echo "priorauth at $BASE_URL: $(jget health status)"
echo

# 1. Create. Idempotency-Key makes a retried create return the same authorization.
call create 201 POST "$AUTHS" -H "Content-Type: application/json" \
  -H "Idempotency-Key: lifecycle-$RUN-create" --data-binary @"$CASE"
AUTH_ID=$(jget create id)
echo "authorization $AUTH_ID  (questionnaire: $(jget create sourceForm.id), ETag $(header create ETag))"
show "1. create" create

call create_again 201 POST "$AUTHS" -H "Content-Type: application/json" \
  -H "Idempotency-Key: lifecycle-$RUN-create" --data-binary @"$CASE"
echo "   retried create with the same key -> $(jget create_again id), Idempotent-Replayed: $(header create_again Idempotent-Replayed)"

# 2. Patch the answers (JSON merge patch), guarded by the version from the ETag.
call patch 200 PATCH "$AUTHS/$AUTH_ID" -H "Content-Type: application/merge-patch+json" \
  -H "If-Match: $(header create ETag)" --data-binary @"$ANSWERS"
show "2. patch answers" patch

# 3. Submit (filled form + cover sheet + packet are rendered and sent to the sandbox channel).
call submit1 200 POST "$AUTHS/$AUTH_ID/submit" -H "Idempotency-Key: lifecycle-$RUN-submit-1"
show "3. submit" submit1
echo "   attempt $(jget submit1 submission.id): status=$(jget submit1 submission.status)" \
     "channel=$(jget submit1 submission.channel)"

# 4. The sandbox payer asks for more information.
call more_info 200 POST "/v1/sandbox/prior-auth/authorizations/$AUTH_ID/payer-events" \
  -H "Content-Type: application/json" --data-binary @"$(json '{
    "type": "more_info_request", "message": "Send the latest knee X-ray report",
    "requestedDocuments": ["knee radiograph report"]}')"
show "4. payer more_info_request" more_info
call actions 200 GET "$AUTHS/$AUTH_ID/actions?status=open"
ACTION_ID=$(jget actions data.0.id)
echo "   open action $ACTION_ID: type=$(jget actions data.0.type) message=\"$(jget actions data.0.message)\""

# 5. Upload a PDF (a minimal valid one-page PDF built here with printf).
make_pdf() {
  local stream='BT /F1 14 Tf 72 720 Td (Knee radiograph report: bone on bone, KL grade 4) Tj ET'
  local objs=(
    '<< /Type /Catalog /Pages 2 0 R >>'
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>'
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>'
    "<< /Length ${#stream} >>
stream
$stream
endstream"
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>'
  )
  local out='%PDF-1.4
' offsets=() i
  for i in "${!objs[@]}"; do
    offsets+=("${#out}")
    out+="$((i + 1)) 0 obj
${objs[$i]}
endobj
"
  done
  local xref=${#out}
  out+="xref
0 $(( ${#objs[@]} + 1 ))
0000000000 65535 f 
"
  for i in "${offsets[@]}"; do out+="$(printf '%010d 00000 n ' "$i")
"; done
  out+="trailer
<< /Size $(( ${#objs[@]} + 1 )) /Root 1 0 R >>
startxref
$xref
%%EOF
"
  printf '%s' "$out"
}
LC_ALL=C make_pdf > "$WORK/xray-report.pdf"   # LC_ALL=C: ${#var} counts bytes for the xref offsets

call upload 201 POST /v1/files -F "file=@$WORK/xray-report.pdf;type=application/pdf"
FILE_ID=$(jget upload id)
printf '%-34s file %s (%s, %s bytes)\n' "5. upload" "$FILE_ID" "$(jget upload contentType)" "$(jget upload size)"

# 6. Attach the file to the authorization.
call attach 201 POST "$AUTHS/$AUTH_ID/attachments" -H "Content-Type: application/json" \
  --data-binary @"$(json "{\"fileId\": \"$FILE_ID\", \"category\": \"imaging\", \"description\": \"Knee X-ray report\"}")"
ATTACHMENT_ID=$(jget attach id)
printf '%-34s attachment %s\n' "6. attach" "$ATTACHMENT_ID"

# 7. Resolve the payer's request with the attachment.
call resolve 200 POST "$AUTHS/$AUTH_ID/actions/$ACTION_ID/resolve" -H "Content-Type: application/json" \
  --data-binary @"$(json "{\"attachmentIds\": [\"$ATTACHMENT_ID\"], \"note\": \"X-ray report attached\"}")"
echo "   action $(jget resolve id): status=$(jget resolve status)"
show "7. resolve action" resolve authorization

# 8. Submit again (a new key: this is a new submission, not a retry of the first).
call submit2 200 POST "$AUTHS/$AUTH_ID/submit" -H "Idempotency-Key: lifecycle-$RUN-submit-2"
show "8. submit again" submit2
PACKET_ID=$(jget submit2 submission.artifacts.submission_packet)
echo "   attempt $(jget submit2 submission.id): status=$(jget submit2 submission.status), packet artifact $PACKET_ID"

# 9. The sandbox payer approves.
call approval 200 POST "/v1/sandbox/prior-auth/authorizations/$AUTH_ID/payer-events" \
  -H "Content-Type: application/json" --data-binary @"$(json '{
    "type": "approval", "certificationNumber": "CERT-778", "approvedStartDate": "2026-12-01",
    "approvedEndDate": "2027-02-28", "approvalExpiresAt": "2027-03-01T00:00:00Z"}')"
show "9. payer approval" approval
echo "   certificationNumber=$(jget approval decisionDetails.certificationNumber)"

# 10. The event log, in sequence order (follow pagination.nextCursor until hasMore is false).
echo
echo "events:"
cursor=""
page=0
while :; do
  page=$((page + 1))
  call "events$page" 200 GET "$AUTHS/$AUTH_ID/events?limit=100${cursor:+&cursor=$cursor}"
  python3 -c '
import json, sys
for e in json.load(open(sys.argv[1]))["data"]:
    d = e["data"]
    if e["type"] == "prior_auth.status.changed":
        p, c = d["previous"], d["current"]
        extra = "%s/%s -> %s/%s" % (p["workflowState"], p["decisionState"], c["workflowState"], c["decisionState"])
    else:
        shown = ("changedFields", "type", "channel", "decisionState", "attachmentId")
        extra = " ".join("%s=%s" % (k, v) for k, v in d.items() if k in shown)
    print("  %3d  %-38s %s" % (e["sequence"], e["type"], extra))
' "$WORK/events$page.json"
  [ "$(jget "events$page" pagination.hasMore)" = "true" ] || break
  cursor=$(jget "events$page" pagination.nextCursor)
done

# 11. Download the submitted packet (cover sheet + filled form + attachments).
call packet 200 GET "$AUTHS/$AUTH_ID/artifacts/$PACKET_ID"
cp "$WORK/packet.json" ./packet.pdf
echo
echo "packet: ./packet.pdf ($(header packet Content-Type), $(wc -c < ./packet.pdf | tr -d ' ') bytes)"
