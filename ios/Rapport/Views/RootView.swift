// The app's frame: login until a session exists (S5), then the tabs.
import RapportCore
import SwiftUI

struct RootView: View {
    @Bindable var model: AppModel
    @Environment(\.scenePhase) private var phase

    var body: some View {
        Group {
            if let client = model.client, model.login != nil {
                MainTabs(model: model, client: client)
            } else if model.client != nil {
                LoginView(model: model)
            } else if let error = model.error {
                ContentUnavailableView("Rapport", systemImage: "exclamationmark.triangle", description: Text(error))
            } else {
                ProgressView()
            }
        }
        .task { await model.open() }
        .onChange(of: phase) { _, now in
            if now == .active {
                Task { await model.resumed() }
            } else {
                Viewing.chat = nil
            }
        }
    }
}

struct LoginView: View {
    /// Issue 17: a Rapport server, or a SendPulse account directly.
    enum Mode: Hashable { case server, sendPulse }

    @Bindable var model: AppModel
    @State private var mode = Mode.server
    @State private var email = ""
    @State private var password = ""
    @State private var apiURL = "https://api.sendpulse.com"
    @State private var clientId = ""
    @State private var clientSecret = ""
    @State private var operatorId = ""
    @State private var busy = false

    var body: some View {
        Form {
            Picker("Log in to", selection: $mode) {
                Text("Rapport server").tag(Mode.server)
                Text("SendPulse").tag(Mode.sendPulse)
            }
            .pickerStyle(.segmented)
            switch mode {
            case .server:
                Section("Rapport") {
                    TextField("Email", text: $email)
                        .textContentType(.username)
                        .keyboardType(.emailAddress)
                        .textInputAutocapitalization(.never)
                        .autocorrectionDisabled()
                    SecureField("Password", text: $password)
                        .textContentType(.password)
                }
            case .sendPulse:
                Section("SendPulse API (Settings > API)") {
                    TextField("API URL", text: $apiURL)
                        .keyboardType(.URL)
                        .textInputAutocapitalization(.never)
                        .autocorrectionDisabled()
                    TextField("Client ID", text: $clientId)
                        .textInputAutocapitalization(.never)
                        .autocorrectionDisabled()
                    SecureField("Client secret", text: $clientSecret)
                    TextField("Operator ID (optional)", text: $operatorId)
                        .keyboardType(.numberPad)
                }
            }
            if let error = model.error {
                Section { Text(error).foregroundStyle(.red) }
            }
            Button("Log in") {
                busy = true
                Task {
                    switch mode {
                    case .server:
                        await model.logIn(email: email, password: password)
                    case .sendPulse:
                        await model.logInSendPulse(
                            apiURL: apiURL, clientId: clientId, clientSecret: clientSecret,
                            operatorId: Int64(operatorId)
                        )
                    }
                    busy = false
                }
            }
            .disabled(busy || !ready)
        }
    }

    /// Every required field filled; an operator id, if any, is a number.
    private var ready: Bool {
        switch mode {
        case .server:
            return !email.isEmpty && !password.isEmpty
        case .sendPulse:
            return !apiURL.isEmpty && !clientId.isEmpty && !clientSecret.isEmpty
                && (operatorId.isEmpty || Int64(operatorId) != nil)
        }
    }
}

struct MainTabs: View {
    @Bindable var model: AppModel
    let client: RapportClient

    var body: some View {
        TabView {
            NavigationStack { HomeView(app: model, client: client) }
                .tabItem { Label("Home", systemImage: "house") }
            InboxView(app: model, client: client)
                .tabItem { Label("Inbox", systemImage: "tray") }
            NavigationStack { StatsView(client: client) }
                .tabItem { Label("Statistics", systemImage: "chart.bar") }
            NavigationStack { SettingsView(app: model, client: client) }
                .tabItem { Label("Settings", systemImage: "gear") }
        }
        .overlay(alignment: .top) { SyncBanner(state: model.sync) }
    }
}

/// S2: where sync stands, as the core reports it.
struct SyncBanner: View {
    let state: SyncState

    var body: some View {
        switch state {
        case .offline:
            Label("Offline", systemImage: "wifi.slash").font(.caption).padding(4)
        case let .failed(code, _):
            Label(code, systemImage: "exclamationmark.icloud").font(.caption).padding(4)
        case .snapshot, .catchingUp:
            ProgressView().padding(4)
        case .idle, .live:
            EmptyView()
        }
    }
}
