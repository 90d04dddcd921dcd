#!/usr/bin/env python3
"""What CI can check of the iOS app without a Mac (issue 15), run by
scripts/test.sh in the tree-sitter venv (with PyYAML):

1. plists: every .plist and .entitlements file under ios/ parses (plistlib).
2. project: ios/project.yml parses and agrees with those files: an app and
   a notification-service extension target, the extension's bundle id
   prefixed by the app's, each target's Info.plist and entitlements exist,
   both entitlements name the same App Group and keychain group, which are
   the ones the Info.plists hand the Swift code, the extension's principal
   class is declared in its sources, the RapportCore package is local and
   both targets link it.
3. api: every RapportCore name the app's Swift uses exists in the
   generated bindings (bindings/swift/Sources/RapportCore/RapportCore.swift)
   or the package's own Swift, so a renamed core API fails CI:
   - each type name (`ChatFilter`, `PushDecision`) must be declared by the
     bindings, the app itself, or the Apple SDK allowlist below;
   - each member after a dot (`x.decide`, `.markRead`, `case .open`) must be
     declared (func, property, enum case) by one of those;
   - a member on a value named `client` (the app's convention for its
     RapportClient and NotificationClient) must be one of those two
     classes' members or the package's extensions of them, not merely any
     name that exists somewhere;
   - a call whose name only the bindings declare (a core method, a core
     enum case, a core record's init) must use one of its declared argument
     label lists (parameters with a default may be left out).
   How exact: by name, not by type. There is no type inference: `x.foo` on
   some other value passes if anything declares `foo`, and the allowlist is
   names, not Apple's full SDK. A core rename is caught unless the old name
   is still declared by the app, another core type or the allowlist.

Usage: ios-check.py [REPO]   (exit 1 with one line per problem)"""
import copy
import pathlib
import plistlib
import re
import sys

import tree_sitter
import tree_sitter_swift

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
swift_parse = __import__("swift-parse")  # its fixes for the 0.7.4 grammar

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))

# Apple SDK names the app uses (Swift standard library, Foundation,
# SwiftUI, UIKit, UserNotifications, Security, Observation), each checked
# against Apple's documentation when added. Types and members apart.
APPLE_TYPES = {
    # Swift
    "Any", "AnyHashable", "AnyObject", "Array", "Bool", "CancellationError", "Character",
    "Dictionary", "Double", "Equatable", "Error", "Hashable", "Int", "Int64", "Never",
    "Optional", "Result", "Sendable", "Set", "String", "Task", "UInt32", "UInt64", "UInt8",
    "Void", "AsyncThrowingStream", "MainActor", "WritableKeyPath", "KeyPath",
    "ForEach",
    # Foundation, Security, Core Foundation
    "Bundle", "ByteCountFormatter", "CFDictionary", "CFTypeRef", "Data", "Date",
    "DispatchQueue", "FileAttributeKey", "FileManager", "FileProtectionType",
    "JSONSerialization", "NSLocalizedString", "NSNumber", "NSObject", "OSStatus", "URL",
    "UTF8", "UUID", "UserDefaults",
    # SwiftUI, Observation
    "App", "AsyncImage", "Binding", "Button", "Circle", "Color", "ContentUnavailableView",
    "EmptyView", "Environment", "Form", "Group", "HStack", "Image", "Label",
    "LabeledContent", "Link", "List", "Menu", "NavigationLink", "NavigationStack",
    "Picker", "ProgressView", "RoundedRectangle", "Scene", "ScrollViewReader", "SecureField",
    "Section", "Spacer", "State", "TabView", "Text", "TextField", "Toggle", "ToolbarItem",
    "UIApplicationDelegateAdaptor", "VStack", "View", "WindowGroup", "Bindable", "Observable",
    # UIKit, UserNotifications
    "UIApplication", "LaunchOptionsKey", "UIApplicationDelegate", "UIBackgroundFetchResult", "UIDevice",
    "UNMutableNotificationContent", "UNNotification", "UNNotificationAction",
    "UNNotificationCategory", "UNNotificationContent", "UNNotificationPresentationOptions",
    "UNNotificationRequest", "UNNotificationResponse", "UNNotificationServiceExtension",
    "UNTextInputNotificationAction", "UNTextInputNotificationResponse",
    "UNUserNotificationCenter", "UNUserNotificationCenterDelegate",
    # Security's C functions, called like types
    "SecItemAdd", "SecItemCopyMatching", "SecItemDelete", "SecItemUpdate",
}
APPLE_MEMBERS = {
    # Swift standard library
    "append", "compactMap", "contains", "count", "enumerated", "filter", "first", "forEach",
    "insert", "inserted", "isEmpty", "joined", "keys", "last", "lazy", "map", "offset",
    "sorted", "value", "cancel", "isCancelled", "detached", "some", "none", "success",
    "self", "run", "userInitiated", "utf8",
    # Foundation, Security, Dispatch
    "main", "default", "path", "temporaryDirectory", "appendingPathComponent",
    "lastPathComponent", "createDirectory", "copyItem", "removeItem", "setAttributes",
    "contentsOfDirectory", "containerURL", "protectionKey",
    "completeUntilFirstUserAuthentication", "object", "string", "set", "removeObject",
    "isValidJSONObject", "data", "uuidString", "addingTimeInterval",
    "startAccessingSecurityScopedResource", "stopAccessingSecurityScopedResource",
    "async", "file", "identifierForVendor", "current", "shared", "item",
    # SwiftUI
    "alert", "background", "bordered", "borderless", "blue", "caption", "caption2",
    "clipShape", "confirmationDialog", "contextMenu", "date", "destructive", "disabled", "fileImporter",
    "fill", "font", "foregroundStyle", "frame", "gray", "headline", "id", "infinity",
    "inline", "italic", "keyboardType", "emailAddress", "numberPad", "phonePad", "URL",
    "leading", "lineLimit", "listRowSeparator", "listStyle", "navigationBarTitleDisplayMode",
    "navigationDestination", "navigationTitle", "onAppear", "onChange", "onDisappear",
    "onSubmit", "opacity", "orange", "overlay", "padding", "pickerStyle", "plain",
    "quaternary", "red", "refreshable", "relative", "resizable", "roundedBorder",
    "scrollTo", "searchable", "secondary", "segmented", "stroke", "subheadline", "tabItem",
    "tag", "task", "textContentType", "textFieldStyle", "textInputAutocapitalization",
    "autocorrectionDisabled", "never", "time", "timer", "toolbar", "topBarTrailing",
    "trailing", "top", "vertical", "horizontal", "hidden", "buttonStyle", "cancel",
    "username", "password", "active", "scenePhase", "dismiss", "yellow", "clear",
    # UIKit, UserNotifications
    "registerForRemoteNotifications", "beginBackgroundTask", "endBackgroundTask",
    "noData", "newData", "delegate", "setNotificationCategories", "requestAuthorization",
    "alert", "badge", "sound", "banner", "list", "authenticationRequired", "request",
    "content", "title", "body", "threadIdentifier", "categoryIdentifier", "userInfo",
    "identifier", "interruptionLevel", "passive", "userText", "actionIdentifier",
    "notification", "mutableCopy", "getDeliveredNotifications", "deliveredNotifications",
    "removeDeliveredNotifications", "setBadgeCount", "add",
}
# Swift keywords and literal names the parser reports as identifiers.
IGNORED = {"self", "Self", "super", "init", "Type", "some", "throws", "async"}


def in_attribute(node):
    """`@unchecked Sendable`, `@main`: attribute names are not types."""
    while node is not None:
        if node.type == "attribute":
            return True
        node = node.parent
    return False


_TREES = {}


def parse(path):
    """The file's syntax tree (kept: the checker's test asks many times)."""
    data = pathlib.Path(path).read_bytes()
    key = (str(path), hash(data))
    if key not in _TREES:
        _TREES[key] = PARSER.parse(swift_parse.accepted(data)).root_node
    return _TREES[key]


_DECLARED = {}


def declared_by(files):
    """The Declarations of `files` (a fresh copy of a kept one)."""
    key = tuple((str(f), hash(pathlib.Path(f).read_bytes())) for f in files)
    if key not in _DECLARED:
        d = Declarations()
        for f in files:
            d.add_file(f)
        _DECLARED[key] = d
    return copy.deepcopy(_DECLARED[key])


def walk(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def name(node):
    return node.text.decode().strip("`")


def parameter_labels(node):
    """The external labels of a func/init's parameters, with whether each
    has a default: [(label or None, has_default)]."""
    out = []
    kids = node.children
    for i, c in enumerate(kids):
        if c.type != "parameter":
            continue
        ids = [k for k in c.children if k.type == "simple_identifier"]
        label = name(ids[0]) if ids else None
        if label == "_":
            label = None
        has_default = i + 1 < len(kids) and kids[i + 1].type == "=" 
        out.append((label, has_default))
    return out


def case_labels(entry_params):
    """The labels of an enum case's associated values: [(label|None, False)]."""
    out, kids = [], entry_params.children
    i = 0
    while i < len(kids):
        k = kids[i]
        if k.type == "simple_identifier" and i + 1 < len(kids) and kids[i + 1].type == ":":
            out.append((name(k), False))
            i += 3
            continue
        if k.type not in ("(", ")", ","):
            out.append((None, False))
        i += 1
    return out


class Declarations:
    """Names a set of Swift files declares: types, members, and the label
    lists of functions, inits (by type) and enum cases."""

    def __init__(self):
        self.types = set()
        self.members = set()
        self.signatures = {}  # member or type name -> [label lists]
        self.members_of = {}  # type name -> member names (incl. extensions)
        # What `.name` with no value before the dot can mean: enum cases
        # and static members (an instance method cannot be written so).
        self.implicit = set()

    def forget(self, names):
        for n in names:
            self.types.discard(n)
            self.members.discard(n)
            self.implicit.discard(n)
            self.signatures.pop(n, None)
            for mine in self.members_of.values():
                mine.discard(n)

    def names(self):
        return self.types | self.members

    def add_file(self, path):
        self.add_tree(parse(path))
        return self

    def _sig(self, key, labels):
        self.signatures.setdefault(key, []).append(labels)

    def add_tree(self, root):
        for n in walk(root):
            t = n.type
            if t == "type_parameter":
                ident = next((c for c in n.children if c.type == "type_identifier"), None)
                if ident is not None:
                    self.types.add(name(ident))
            if t in ("class_declaration", "protocol_declaration", "typealias_declaration"):
                type_name = n.child_by_field_name("name")
                if type_name is None:
                    continue
                owner = name(type_name)
                if type_name.type == "type_identifier":
                    self.types.add(owner)
                else:  # `extension X { }` is a class_declaration of user_type X
                    owner = name(type_name).split("<")[0]
                body = n.child_by_field_name("body")
                if body is not None:
                    self._add_body(owner, body)

    def _add_body(self, owner, body):
        mine = self.members_of.setdefault(owner, set())
        for c in body.children:
            t = c.type
            mods = next((k for k in c.children if k.type == "modifiers"), None)
            static = mods is not None and re.search(rb"\b(static|class)\b", mods.text) is not None
            if t in ("function_declaration", "protocol_function_declaration"):
                n = c.child_by_field_name("name")
                if n is not None:
                    mine.add(name(n))
                    self.members.add(name(n))
                    if static:
                        self.implicit.add(name(n))
                    self._sig(name(n), parameter_labels(c))
            elif t == "init_declaration":
                self._sig(owner, parameter_labels(c))
            elif t in ("property_declaration", "protocol_property_declaration"):
                for n in walk(c):
                    if n.type == "pattern":
                        b = n.child_by_field_name("bound_identifier")
                        if b is not None:
                            mine.add(name(b))
                            self.members.add(name(b))
                            if static:
                                self.implicit.add(name(b))
                        break
            elif t == "enum_entry":
                kids = c.children
                for i, k in enumerate(kids):
                    if k.type == "simple_identifier":
                        case = name(k)
                        self.members.add(case)
                        self.implicit.add(case)
                        mine.add(case)
                        params = kids[i + 1] if i + 1 < len(kids) else None
                        if params is not None and params.type == "enum_type_parameters":
                            self._sig(case, case_labels(params))
                        else:
                            self._sig(case, [])
            if t in ("class_declaration", "protocol_declaration", "typealias_declaration"):
                self.add_tree(c)  # nested types
        # A record's stored properties make its memberwise init in Swift
        # only when the file declares no init; the bindings always do.


def call_labels(call):
    """The argument labels of a call_expression ([None] for unlabelled),
    or None when it has a trailing closure (labels then say too little)."""
    suffix = next((c for c in call.children if c.type == "call_suffix"), None)
    if suffix is None:
        return None
    args = next((c for c in suffix.children if c.type == "value_arguments"), None)
    if args is None or any(c.type == "lambda_literal" for c in suffix.children):
        return None
    labels = []
    for a in args.children:
        if a.type != "value_argument":
            continue
        label = next((c for c in a.children if c.type == "value_argument_label"), None)
        labels.append(name(label) if label is not None else None)
    return labels


def labels_fit(used, declared):
    """Do the labels of a call fit a declaration (in order, leaving out only
    parameters that have a default)?"""
    i = 0
    for label, has_default in declared:
        if i < len(used) and used[i] == label:
            i += 1
        elif not has_default:
            return False
    return i == len(used)


def api_problems(app_files, core_files, client_types=("RapportClient", "NotificationClient"), drop=()):
    """One line per name the app's Swift uses that nothing declares.
    `drop`: core names to act as if renamed (the checker's own test)."""
    core = declared_by(core_files)
    core.forget(drop)
    local = Declarations()
    trees = [(f, parse(f)) for f in app_files]
    for _, tree in trees:
        local.add_tree(tree)
    types = core.types | local.types | APPLE_TYPES
    members = core.members | local.members | APPLE_MEMBERS | IGNORED
    client_members = set()
    for t in client_types:
        client_members |= core.members_of.get(t, set())
        client_members |= core.members_of.get(t + "Protocol", set())
    core_only = {m for m in core.signatures if m not in local.members and m not in local.types
                 and m not in APPLE_MEMBERS and m not in APPLE_TYPES}
    implicit = core.members | local.implicit | APPLE_MEMBERS | IGNORED
    core_only_implicit = {m for m in core.signatures if m not in local.implicit and m not in APPLE_MEMBERS}

    problems = []

    def report(path, node, what):
        line = node.start_point[0] + 1
        problems.append(f"{path}:{line}: {what}")

    for path, tree in trees:
        for n in walk(tree):
            t = n.type
            if t == "type_identifier" and n.parent is not None and n.parent.type == "user_type":
                if name(n) not in types and name(n) not in IGNORED and not in_attribute(n):
                    report(path, n, f"type `{name(n)}` is declared by neither RapportCore, the app nor the SDK allowlist")
            elif t == "navigation_suffix":
                ident = next((c for c in n.children if c.type == "simple_identifier"), None)
                if ident is None:
                    continue
                member = name(ident)
                target = n.parent.child_by_field_name("target") if n.parent is not None else None
                on_client = target is not None and target.type == "simple_identifier" and name(target) == "client"
                if on_client and member not in client_members:
                    report(path, ident, f"`client.{member}`: RapportClient/NotificationClient have no `{member}`")
                elif member not in members and member not in types:
                    report(path, ident, f"member `{member}` is declared by neither RapportCore, the app nor the SDK allowlist")
            elif t == "simple_identifier":
                prev = n.prev_sibling
                if prev is not None and prev.type == "." and n.parent.type != "navigation_suffix":
                    if name(n) not in implicit:
                        report(path, n, f"member `.{name(n)}` is declared by neither RapportCore, the app nor the SDK allowlist")
                elif n.parent is not None and n.parent.type == "call_expression" and n.prev_sibling is None:
                    callee = name(n)
                    if callee[:1].isupper() and callee not in types:
                        report(path, n, f"`{callee}(...)` is declared by neither RapportCore, the app nor the SDK allowlist")
            if t == "call_expression":
                callee = n.children[0] if n.children else None
                key, only = None, core_only
                if callee is not None and callee.type == "simple_identifier":
                    key = name(callee)
                elif callee is not None and callee.type == "navigation_expression":
                    suffix = callee.child_by_field_name("suffix")
                    ident = next((c for c in suffix.children if c.type == "simple_identifier"), None) if suffix else None
                    key = name(ident) if ident is not None else None
                elif callee is not None and callee.type == "prefix_expression":
                    target = callee.child_by_field_name("target")
                    if target is not None and target.type == "simple_identifier":
                        key, only = name(target), core_only_implicit
                if key in only:
                    used = call_labels(n)
                    if used is not None and not any(labels_fit(used, d) for d in core.signatures[key]):
                        shown = ", ".join(f"{l}:" if l else "_" for l in used)
                        report(path, n, f"`{key}({shown})` matches no declaration of `{key}` in RapportCore")
    return problems


# Project, plists, entitlements.

def plist_problems(ios):
    problems, loaded = [], {}
    for f in sorted(list(ios.rglob("*.plist")) + list(ios.rglob("*.entitlements"))):
        try:
            with open(f, "rb") as fh:
                loaded[f.resolve()] = plistlib.load(fh)
        except Exception as e:  # plistlib raises several kinds
            problems.append(f"{f}: not a valid plist: {e}")
    return problems, loaded


def project_problems(ios):
    import yaml

    problems, plists = plist_problems(ios)
    spec_path = ios / "project.yml"
    try:
        spec = yaml.safe_load(spec_path.read_text())
    except Exception as e:
        return problems + [f"{spec_path}: not valid YAML: {e}"]
    targets = spec.get("targets") or {}
    by_type = {}
    for tname, target in targets.items():
        by_type.setdefault(target.get("type"), []).append(tname)
    apps, exts = by_type.get("application", []), by_type.get("app-extension", [])
    if len(apps) != 1 or len(exts) != 1:
        return problems + [f"{spec_path}: wants one application and one app-extension target, has {by_type}"]
    app, ext = apps[0], exts[0]

    def setting(tname, key):
        return ((targets[tname].get("settings") or {}).get("base") or {}).get(key)

    def load(tname, key):
        rel = setting(tname, key)
        if not rel:
            problems.append(f"{spec_path}: target {tname} sets no {key}")
            return {}
        f = (ios / rel).resolve()
        if f not in plists:
            problems.append(f"{spec_path}: target {tname}'s {key} {rel} is missing or not a plist")
            return {}
        return plists[f]

    app_id, ext_id = setting(app, "PRODUCT_BUNDLE_IDENTIFIER"), setting(ext, "PRODUCT_BUNDLE_IDENTIFIER")
    if not app_id or not ext_id or not str(ext_id).startswith(str(app_id) + "."):
        problems.append(f"{spec_path}: the extension's bundle id {ext_id!r} is not prefixed by the app's {app_id!r}")
    info = {app: load(app, "INFOPLIST_FILE"), ext: load(ext, "INFOPLIST_FILE")}
    ents = {app: load(app, "CODE_SIGN_ENTITLEMENTS"), ext: load(ext, "CODE_SIGN_ENTITLEMENTS")}

    groups = {t: ents[t].get("com.apple.security.application-groups") for t in ents}
    keychains = {t: ents[t].get("keychain-access-groups") for t in ents}
    if not groups[app] or groups[app] != groups[ext]:
        problems.append(f"App Groups differ or are missing: {groups}")
    if not keychains[app] or keychains[app] != keychains[ext]:
        problems.append(f"keychain access groups differ or are missing: {keychains}")
    for t in (app, ext):
        if info[t].get("RapportAppGroup") not in (groups[t] or []):
            problems.append(f"{t}: Info.plist RapportAppGroup {info[t].get('RapportAppGroup')!r} is not in its entitlements {groups[t]}")
        if info[t].get("RapportKeychainGroup") not in (keychains[t] or []):
            problems.append(f"{t}: Info.plist RapportKeychainGroup {info[t].get('RapportKeychainGroup')!r} is not in its entitlements {keychains[t]}")
        if not info[t].get("RapportServerURL"):
            problems.append(f"{t}: Info.plist has no RapportServerURL")
    if "aps-environment" not in ents[app]:
        problems.append(f"{app}: entitlements lack aps-environment (push)")
    if "remote-notification" not in (info[app].get("UIBackgroundModes") or []):
        problems.append(f"{app}: Info.plist UIBackgroundModes lacks remote-notification")

    extension = info[ext].get("NSExtension") or {}
    if extension.get("NSExtensionPointIdentifier") != "com.apple.usernotifications.service":
        problems.append(f"{ext}: NSExtensionPointIdentifier is not com.apple.usernotifications.service")
    principal = str(extension.get("NSExtensionPrincipalClass", "")).split(".")[-1]
    ext_sources = [ios / (s["path"] if isinstance(s, dict) else s) for s in targets[ext].get("sources", [])]
    declared = Declarations()
    for src in ext_sources:
        if not src.exists():
            problems.append(f"{spec_path}: {ext} source {src} does not exist")
            continue
        for f in sorted(src.rglob("*.swift")):
            declared.add_file(f)
    if principal not in declared.types:
        problems.append(f"{ext}: NSExtensionPrincipalClass {principal!r} is not declared in its sources")
    for src in targets[app].get("sources", []):
        if not (ios / (src["path"] if isinstance(src, dict) else src)).exists():
            problems.append(f"{spec_path}: {app} source {src} does not exist")

    packages = spec.get("packages") or {}
    core = packages.get("RapportCore") or {}
    if not core.get("path") or not (ios / core["path"] / "Package.swift").exists():
        problems.append(f"{spec_path}: package RapportCore has no local path with a Package.swift")
    for t in (app, ext):
        deps = targets[t].get("dependencies") or []
        if not any(d.get("package") == "RapportCore" for d in deps):
            problems.append(f"{spec_path}: target {t} does not link the RapportCore package")
    if not any(d.get("target") == ext and d.get("embed", True) for d in targets[app].get("dependencies") or []):
        problems.append(f"{spec_path}: {app} does not embed {ext}")
    return problems


def main(argv):
    repo = pathlib.Path(argv[1] if len(argv) > 1 else ".").resolve()
    ios = repo / "ios"
    generated = repo / "bindings/swift/Sources/RapportCore/RapportCore.swift"
    if not generated.exists():
        print(f"ios-check: {generated} is missing: run scripts/gen-bindings.sh", file=sys.stderr)
        return 1
    core_files = sorted((repo / "bindings/swift/Sources").rglob("*.swift"))
    app_files = sorted(ios.rglob("*.swift"))
    problems = project_problems(ios) + api_problems(app_files, core_files)
    for p in problems:
        print(p, file=sys.stderr)
    print(f"ios-check: {len(app_files)} Swift files of ios/ against {len(core_files)} of the package, "
          f"project.yml and {len(list(ios.rglob('*.plist')) + list(ios.rglob('*.entitlements')))} plists: "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
