#!/usr/bin/env python3
"""Tests of scripts/ios-check.py (run by scripts/test.sh in its venv): the
API check passes on a fixture app and fails when a core name it uses is
renamed (a method, a label, a type, an enum case, a field); the project
check fails on a broken project.yml. Also: on the real tree, each core name
the app references is load-bearing unless the app or the SDK allowlist
declares the same name (printed, for the README's "how exact")."""
import importlib.util
import pathlib
import re
import shutil
import tempfile
import unittest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
FIXTURE = HERE / "ios-check-fixture"
spec = importlib.util.spec_from_file_location("ios_check", HERE / "ios-check.py")
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


def renamed(text, old, new):
    """The core fixture with one declaration renamed (a temporary file)."""
    f = tempfile.NamedTemporaryFile("w", suffix=".swift", delete=False)
    f.write(text.replace(old, new, 1))
    f.close()
    return f.name


class ApiCheck(unittest.TestCase):
    core = (FIXTURE / "core/Core.swift").read_text()
    app = [FIXTURE / "app/App.swift"]

    def problems(self, old=None, new=None):
        core = renamed(self.core, old, new) if old else FIXTURE / "core/Core.swift"
        return check.api_problems(self.app, [core])

    def assert_caught(self, old, new, name):
        problems = self.problems(old, new)
        self.assertTrue(any(name in p for p in problems), f"renaming {old!r} went unnoticed: {problems}")

    def test_the_fixture_app_passes(self):
        self.assertEqual(self.problems(), [])

    def test_a_renamed_method_fails(self):
        self.assert_caught("func decide(", "func decideOutgoing(", "`client.decide`")

    def test_a_renamed_argument_label_fails(self):
        self.assert_caught("outgoing: Outgoing", "what: Outgoing", "decide(chat:, outgoing:)")

    def test_a_renamed_type_fails(self):
        self.assert_caught("enum Decision", "enum Verdict", "type `Decision`")

    def test_a_renamed_enum_case_fails(self):
        self.assert_caught("case markRead(", "case markAsRead(", "`.markRead`")

    def test_a_renamed_case_label_fails(self):
        self.assert_caught("markRead(chatId:", "markRead(chat:", "markRead(chatId:)")

    def test_a_renamed_field_fails(self):
        self.assert_caught("var pauseLeftMs", "var pauseLeft", "`pauseLeftMs`")

    def test_a_renamed_init_label_fails(self):
        self.assert_caught("init(pauseLeftMs:", "init(pause:", "Countdowns(pauseLeftMs:)")


class ProjectCheck(unittest.TestCase):
    def setUp(self):
        self.dir = pathlib.Path(tempfile.mkdtemp())
        shutil.copytree(REPO / "ios", self.dir / "ios", ignore=shutil.ignore_patterns("*.swift"))
        shutil.copy(REPO / "ios/NotificationService/NotificationService.swift",
                    self.dir / "ios/NotificationService/NotificationService.swift")
        (self.dir / "bindings/swift").mkdir(parents=True)
        shutil.copy(REPO / "bindings/swift/Package.swift", self.dir / "bindings/swift/Package.swift")
        self.ios = self.dir / "ios"

    def tearDown(self):
        shutil.rmtree(self.dir)

    def edit(self, rel, old, new):
        f = self.ios / rel
        text = f.read_text()
        self.assertIn(old, text)
        f.write_text(text.replace(old, new, 1))

    def test_the_real_project_passes(self):
        self.assertEqual(check.project_problems(self.ios), [])

    def test_an_extension_id_outside_the_app_fails(self):
        self.edit("project.yml", "app.rapport.ios.NotificationService", "app.other.NotificationService")
        self.assertTrue(any("not prefixed" in p for p in check.project_problems(self.ios)))

    def test_different_app_groups_fail(self):
        self.edit("NotificationService/NotificationService.entitlements",
                  "<string>group.app.rapport.ios</string>", "<string>group.app.rapport.other</string>")
        self.assertTrue(any("App Groups differ" in p for p in check.project_problems(self.ios)))

    def test_a_broken_plist_fails(self):
        self.edit("Rapport/Info.plist", "</dict>\n</plist>", "</plist>")
        self.assertTrue(any("not a valid plist" in p for p in check.project_problems(self.ios)))

    def test_a_missing_entitlements_file_fails(self):
        (self.ios / "Rapport/Rapport.entitlements").unlink()
        self.assertTrue(any("CODE_SIGN_ENTITLEMENTS" in p for p in check.project_problems(self.ios)))

    def test_an_undeclared_principal_class_fails(self):
        self.edit("NotificationService/Info.plist", ".NotificationService<", ".Service<")
        self.assertTrue(any("NSExtensionPrincipalClass" in p for p in check.project_problems(self.ios)))


class RealTree(unittest.TestCase):
    def test_core_names_the_app_references_are_load_bearing(self):
        generated = REPO / "bindings/swift/Sources/RapportCore/RapportCore.swift"
        if not generated.exists():
            self.skipTest("run scripts/gen-bindings.sh first")
        core = sorted((REPO / "bindings/swift/Sources").rglob("*.swift"))
        app = sorted((REPO / "ios").rglob("*.swift"))
        self.assertEqual(check.api_problems(app, core), [])
        declared = check.Declarations()
        for f in core:
            declared.add_file(f)
        text = "\n".join(f.read_text() for f in app)
        used = sorted(n for n in declared.names() if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text))
        missed = [n for n in used if not check.api_problems(app, core, drop=[n])]
        print(f"\nios-check: {len(used) - len(missed)} of {len(used)} core names found in ios/ fail the "
              f"check when renamed; the rest are also declared by the app or the SDK allowlist, "
              f"or occur only in text: {' '.join(missed)}")
        # The client's methods are always load-bearing (checked on `client.`).
        for n in ("decide", "countdowns", "runAction", "show", "replyAsync", "chatList", "timeline"):
            self.assertNotIn(n, missed)


if __name__ == "__main__":
    unittest.main()
