"""The one retry-with-feedback loop: only failed answers are asked again, with their rejection."""

from semacdr_cli.retry import ask_until_valid


def test_only_rejected_items_are_asked_again_with_their_reason_until_tries_run_out():
    calls = []

    def ask(items, feedbacks):
        calls.append((list(items), list(feedbacks)))
        return [f"{x}:{len(calls)}" for x in items]

    def check(item, answer):  # "a" is valid at once, "b" on the second try, "c" never
        tries = int(answer.split(":")[1])
        ok = item == "a" or (item == "b" and tries == 2)
        return (answer, "") if ok else (None, f"bad {answer}")

    results, errors = ask_until_valid(["a", "b", "c"], ask, check, tries=3)
    assert results == ["a:1", "b:2", None]
    assert errors == [[], ["bad b:1"], ["bad c:1", "bad c:2", "bad c:3"]]
    assert [c[0] for c in calls] == [["a", "b", "c"], ["b", "c"], ["c"]]
    assert calls[0][1] == ["", "", ""] and "bad c:2" in calls[2][1][0]
