#!/usr/bin/env bash
# Produces one signed MLOps event with nothing but openssl, base64, sha256sum and kcat: the wire format
# (docs/wire-format.md) needs no mlledger code on the producer side.
#
#   ops/examples/openssl-produce.sh KEY.pem BROKERS TOPIC PAYLOAD.json
#
# KEY.pem comes from `openssl genpkey -algorithm ed25519`; PAYLOAD.json is the CloudEvent, as exact bytes.
set -euo pipefail
key=$1 brokers=$2 topic=$3 payload=$4
type=application/cloudevents+json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# DSSE pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
printf 'DSSEv1 %d %s %d ' "${#type}" "$type" "$(wc -c < "$payload")" > "$work/pae"
cat "$payload" >> "$work/pae"
openssl pkeyutl -sign -rawin -inkey "$key" -in "$work/pae" -out "$work/sig"

# keyid: SHA-256 of the raw 32-byte public key (the last 32 bytes of its DER SubjectPublicKeyInfo)
keyid=$(openssl pkey -in "$key" -pubout -outform DER | tail -c 32 | sha256sum | cut -d' ' -f1)
subject=$(sed -n 's/.*"subject" *: *"\([^"]*\)".*/\1/p' "$payload")

printf '{"payloadType":"%s","payload":"%s","signatures":[{"keyid":"%s","sig":"%s"}]}' \
    "$type" "$(base64 -w0 < "$payload")" "$keyid" "$(base64 -w0 < "$work/sig")" > "$work/envelope"
kcat -b "$brokers" -t "$topic" -P -k "$subject" -H "content-type=application/dsse+json" "$work/envelope"
