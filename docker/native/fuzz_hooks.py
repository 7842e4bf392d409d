"""schemathesis hooks for docker/native/fuzz.sh: the request rules OpenAPI cannot state.

The document gives each query parameter, header and body its own schema, so a rule that ties two
of them together cannot be written there; it is written in their descriptions instead, and taught
to the fuzzer here. Only cases schemathesis generates as valid ("positive") are adjusted, so that
"a schema-valid request is accepted" (positive_data_acceptance) is checked against the rules the
server really has; invalid ("negative") cases are left exactly as generated.

Each rule names the validator it mirrors; change both together.
"""

import os

import schemathesis

# The fuzz user's id (fuzz.sh exports it): sending to yourself or reading a conversation with
# yourself is refused (services/messaging.ts directRef), and no schema can know who "yourself" is.
CALLER_ID = os.environ.get("FUZZ_USER_ID", "")
OTHER_ID = "01JD3W7B1C2D3E4F5G6H7J8K9M"


def _is_positive(case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def _conform(case):
    """The case, changed to keep the rules below; only ever called on cases meant to be valid."""
    label = f"{case.operation.method.upper()} {case.operation.path}"
    if label == "GET /messages" and isinstance(case.query, dict):
        query = case.query
        # HistoryQuery (routes/messages.ts): exactly one of peerId, groupId, conversationId ...
        targets = [name for name in ("peerId", "groupId", "conversationId") if name in query]
        for name in targets[1:]:
            del query[name]
        if not targets:
            query["groupId"] = OTHER_ID
        # ... not both cursors ...
        if "before" in query and "after" in query:
            del query["after"]
        # ... and from <= to (both forms would need parsing here: keep one bound).
        if "from" in query and "to" in query:
            del query["to"]
        if query.get("peerId") == CALLER_ID:
            query["peerId"] = OTHER_ID
    elif label == "POST /messages":
        headers = case.headers or {}
        body = case.body if isinstance(case.body, dict) else {}
        # routes/messages.ts: Idempotency-Key and clientMessageId must be equal when both are sent.
        if "idempotency-key" in headers and "clientMessageId" in body:
            headers["idempotency-key"] = body["clientMessageId"]
        if body.get("receiverId") == CALLER_ID:
            body["receiverId"] = OTHER_ID
    elif label in ("PUT /users/me/blocks/{userId}", "DELETE /users/me/blocks/{userId}"):
        # services/blocks.ts requireOtherUser: blocking (or unblocking) yourself is a 400.
        params = case.path_parameters or {}
        if params.get("userId") == CALLER_ID:
            params["userId"] = OTHER_ID
    elif label == "GET /conversations" and isinstance(case.query, dict):
        # InboxQuery (routes/conversations.ts): cursor and changedSince are opaque values the
        # server issued (a nextCursor, a syncCursor), so no schema can generate a valid one; and
        # not both at once (a nextCursor carries its listing's changedSince).
        case.query.pop("cursor", None)
        case.query.pop("changedSince", None)
    elif label.endswith("/reactions/{emoji}") and isinstance(case.path_parameters, dict):
        # domain/reactions.ts emojiProblem: exactly one grapheme cluster of at most 32 bytes, which
        # no JSON Schema keyword can say (maxLength counts code points, not clusters).
        case.path_parameters["emoji"] = "\U0001F44D"
    return case


@schemathesis.hook
def map_case(context, case):
    # Generated cases (coverage and fuzzing phases): valid ones only.
    return _conform(case) if _is_positive(case) else case


@schemathesis.hook
def before_add_examples(context, examples):
    # The examples phase builds each case from the document's examples, all meant to be valid.
    for case in examples:
        _conform(case)
