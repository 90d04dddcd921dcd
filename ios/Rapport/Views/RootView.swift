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
    @Bindable var model: AppModel
    @State private var email = ""
    @State private var password = ""
    @State private var busy = false

    var body: some View {
        Form {
            Section("Rapport") {
                TextField("Email", text: $email)
                    .textContentType(.username)
                    .keyboardType(.emailAddress)
                    .textInputAutocapitalization(.never)
                    .autocorrectionDisabled()
                SecureField("Password", text: $password)
                    .textContentType(.password)
            }
            if let error = model.error {
                Section { Text(error).foregroundStyle(.red) }
            }
            Button("Log in") {
                busy = true
                Task {
                    await model.logIn(email: email, password: password)
                    busy = false
                }
            }
            .disabled(busy || email.isEmpty || password.isEmpty)
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
