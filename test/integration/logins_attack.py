#!/usr/bin/env python3
"""logins_attack.py URL - run by logins.sh inside the box's namespace: login limits under attack.
Prints "PASS name" or "FAIL name: why" per check. Client addresses are loopback ones (127.0.0.N)."""
import http.client, json, sys, threading, time, urllib.parse

URL = urllib.parse.urlparse(sys.argv[1])
ADMIN_PASS, VIEWER_PASS = "admin-pass-1", "viewer-pass-1"


def request(method, path, body=None, source="127.0.0.1", cookie=None, csrf=None, timeout=30):
    conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=timeout,
                                      source_address=(source, 0))
    headers = {"Content-Type": "application/json"}
    if cookie:
        headers["Cookie"] = cookie
    if csrf:
        headers["X-CSRF-Token"] = csrf
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        r = conn.getresponse()
        data = r.read()
        try:
            j = json.loads(data)
        except ValueError:
            j = None
        return r.status, j, r.getheader("set-cookie")
    finally:
        conn.close()


def login(user, password, source):
    status, j, cookie = request("POST", "/api/v1/login", {"user": user, "password": password},
                                source=source)
    return status, j, (cookie.split(";")[0] if cookie else None)


def check(name, ok, why=""):
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)), flush=True)


# ---- setup: the factory password changed, a viewer ----
status, j, cookie = login("admin", "admin", "127.0.0.1")
csrf = j["csrf_token"] if j else None
s2, j2, _ = request("POST", "/api/v1/password", {"old_password": "admin", "new_password": ADMIN_PASS},
                    cookie=cookie, csrf=csrf)
s3, j3, _ = request("POST", "/api/v1/users",
                    {"name": "viewer1", "password": VIEWER_PASS, "role": "viewer"},
                    cookie=cookie, csrf=csrf)
check("setup: admin password changed, viewer1 made", status == 200 and s2 == 200 and s3 == 201,
      "%s %s %s %s" % (status, s2, s3, j3))
status, j, admin_cookie = login("admin", ADMIN_PASS, "127.0.0.1")
check("setup: the admin logs in from 127.0.0.1", status == 200, "HTTP %s %s" % (status, j))

# ---- a burst from one address gets no more guesses than the limit (5) ----
wrong_answers = []
def guess(user, source, out):
    s, _, _ = login(user, "wrong-guess", source)
    out.append(s)
for burst in range(4):
    threads = [threading.Thread(target=guess, args=("viewer1", "127.0.0.3", wrong_answers))
               for _ in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
checked = wrong_answers.count(401)
check("burst: 4 bursts of 9 wrong logins from one address get at most 5 checked",
      1 <= checked <= 5 and wrong_answers.count(429) == len(wrong_answers) - checked,
      "answers %s" % sorted(wrong_answers))

# ---- a viewer's own login does not clear its failures against the admin ----
answers = [login("admin", "wrong-guess", "127.0.0.4")[0] for _ in range(4)]
ok_viewer = login("viewer1", VIEWER_PASS, "127.0.0.4")[0]
answers.append(login("admin", "wrong-guess", "127.0.0.4")[0])
after = login("admin", "wrong-guess", "127.0.0.4")[0]
check("pairs: after 4 wrong admin logins, the viewer's own login, and a 5th, the 6th is 429",
      answers == [401] * 5 and ok_viewer == 200 and after == 429,
      "admin guesses %s, viewer %s, then %s" % (answers, ok_viewer, after))

# ---- a pause survives failures from 140 other addresses ----
answers = [login("admin", "wrong-guess", "127.0.0.5")[0] for _ in range(5)]
blocked = login("admin", "wrong-guess", "127.0.0.5")[0]
others = []
def others_guess(first):
    for n in range(first, 150, 10):
        others.append(login("nobody%d" % n, "wrong-guess", "127.0.0.%d" % (100 + n))[0])
threads = [threading.Thread(target=others_guess, args=(k,)) for k in range(10)]
for t in threads:
    t.start()
for t in threads:
    t.join()
still = login("admin", "wrong-guess", "127.0.0.5")[0]
check("eviction: a paused (address, user) stays paused after 140 other addresses fail",
      answers == [401] * 5 and blocked == 429 and still == 429,
      "first %s, then %s, after the others (%d answers) %s" % (answers, blocked, len(others), still))

# ---- rotating addresses attack the admin; the admin still logs in ----
stop = threading.Event()
attack_answers = []
def attacker(k):
    n = 0
    while not stop.is_set():
        addr = "127.0.0.%d" % (10 + (k * 37 + n) % 80)
        user = "admin" if n % 2 == 0 else "guess%d" % n
        try:
            attack_answers.append(login(user, "wrong-%d" % n, addr)[0])
        except OSError:
            attack_answers.append(0)
        n += 1
threads = [threading.Thread(target=attacker, args=(k,)) for k in range(24)]
for t in threads:
    t.start()
time.sleep(1.0)
admin_answers = []
deadline = time.time() + 8
while time.time() < deadline:
    admin_answers.append(login("admin", ADMIN_PASS, "127.0.0.1")[0])
    time.sleep(0.3)
stop.set()
for t in threads:
    t.join()
check("attack: the admin logs in during the attack (all of its tries)",
      len(admin_answers) >= 5 and admin_answers.count(200) == len(admin_answers),
      "admin answers %s; attack answers: %d, 401 %d, 429 %d, 503 %d" % (
          admin_answers, len(attack_answers), attack_answers.count(401),
          attack_answers.count(429), attack_answers.count(503)))
check("attack: the attackers are refused with 429, not left queueing (503)",
      attack_answers.count(429) > attack_answers.count(401) + attack_answers.count(503),
      "401 %d, 429 %d, 503 %d" % (attack_answers.count(401), attack_answers.count(429),
                                  attack_answers.count(503)))

# ---- the status API counts what was refused ----
status, j, cookie = login("admin", ADMIN_PASS, "127.0.0.1")
csrf = j["csrf_token"] if j else None
s, st, _ = request("GET", "/api/v1/status", cookie=cookie)
lg = (st or {}).get("logins") or {}
check("status: logins figures count failures and refusals",
      s == 200 and lg.get("failed", 0) > 0 and lg.get("limited", 0) > 0 and
      lg.get("address_busy", 0) > 0 and lg.get("user_limited", 0) + lg.get("budget_refused", 0) > 0
      and "busy" in lg and "slots_full" in lg, "HTTP %s logins %s" % (s, lg))
