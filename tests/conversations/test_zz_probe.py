import json
API = "/api/widget/v1"

def test_probe(visitor, testapp):
    c = visitor.open()
    cid = c["id"]
    h = visitor.headers
    cases = [
        ("post", f"{API}/conversations/{cid}/messages", json.dumps({"body": "hi", "client_id": "abcdefgh12", "page_url": "https://x/\u0000"})),
        ("post", f"{API}/conversations/{cid}/messages", '{"body": "\\ud800 x", "client_id": "abcdefgh13"}'),
        ("post", f"{API}/conversations", "[" * 5000),
        ("post", f"{API}/conversations", json.dumps({"page_url": "https://x/\u0000"})),
    ]
    for m, path, body in cases:
        r = testapp.request(path, method="POST", body=body.encode("utf-8", "surrogatepass"), headers={**h, "Content-Type": "application/json"}, expect_errors=True)
        print(path, body[:60], r.status_int, r.body[:100])
    for path in [f"{API}/conversations/{cid}/events?after=%C2%B2", f"{API}/conversations/99999999999999999999/events"]:
        r = testapp.get(path, headers=h, expect_errors=True)
        print(path, r.status_int, r.body[:100])
    r = testapp.get(f"{API}/config?site_key=%00abcdefghij", headers={"Origin": visitor.origin}, expect_errors=True)
    print("cfg", r.status_int)
    r = testapp.post(f"{API}/sessions", json.dumps({"site_key": visitor.site["key"], "timezone": "a\u0000b"}), headers={"Origin": visitor.origin}, expect_errors=True)
    print("tz", r.status_int)
    r = testapp.request(f"{API}/conversations/{cid}/stream", method="HEAD", headers=h, expect_errors=True)
    print("HEAD", r.status_int, testapp.app.registry["stream_counter"].total)
