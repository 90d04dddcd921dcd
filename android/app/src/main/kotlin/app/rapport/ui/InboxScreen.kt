// Login (S5) and the inbox (A1–A6).
package app.rapport.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.horizontalScroll
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.width
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.lazy.rememberLazyListState
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.FilterChip
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Surface
import androidx.compose.material3.Tab
import androidx.compose.material3.TabRow
import androidx.compose.material3.Text
import androidx.compose.material3.pulltorefresh.PullToRefreshBox
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.platform.testTag
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.text.style.TextOverflow
import androidx.compose.ui.unit.dp
import app.rapport.core.AssigneeFilter
import app.rapport.core.ChatFilter
import app.rapport.core.ChatKind
import app.rapport.core.ChatStatus
import app.rapport.core.ChatSummary
import app.rapport.core.Direction
import app.rapport.core.MessagingApp
import app.rapport.core.StatusCounts
import app.rapport.core.StatusFilter
import app.rapport.core.SyncState

@Composable
fun LoginScreen(model: LoginModel) {
    val mode by model.mode.collectAsState()
    val busy by model.busy.collectAsState()
    val error by model.error.collectAsState()
    Column(
        Modifier.fillMaxSize().padding(24.dp),
        verticalArrangement = Arrangement.spacedBy(12.dp, Alignment.CenterVertically),
    ) {
        Text("Rapport", style = MaterialTheme.typography.headlineMedium)
        // Issue 17: a Rapport server, or a SendPulse account directly.
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            FilterChip(
                mode == LoginMode.SERVER, { model.mode.value = LoginMode.SERVER }, { Text("Rapport server") },
                Modifier.testTag("mode-server"),
            )
            FilterChip(
                mode == LoginMode.SENDPULSE, { model.mode.value = LoginMode.SENDPULSE }, { Text("SendPulse") },
                Modifier.testTag("mode-sendpulse"),
            )
        }
        when (mode) {
            LoginMode.SERVER -> ServerFields(model)
            LoginMode.SENDPULSE -> SendPulseFields(model)
        }
        if (busy) LinearProgressIndicator(Modifier.fillMaxWidth())
        error?.let { Text(it, color = MaterialTheme.colorScheme.error, modifier = Modifier.testTag("login-error")) }
        Button({ model.login() }, Modifier.fillMaxWidth().testTag("login"), enabled = !busy) { Text("Log in") }
    }
}

@Composable
private fun ServerFields(model: LoginModel) {
    val server by model.server.collectAsState()
    val email by model.email.collectAsState()
    val password by model.password.collectAsState()
    OutlinedTextField(
        server, { model.server.value = it }, Modifier.fillMaxWidth().testTag("server"),
        label = { Text("Server") }, singleLine = true,
        keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Uri),
    )
    OutlinedTextField(
        email, { model.email.value = it }, Modifier.fillMaxWidth().testTag("email"),
        label = { Text("Email") }, singleLine = true,
        keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Email),
    )
    OutlinedTextField(
        password, { model.password.value = it }, Modifier.fillMaxWidth().testTag("password"),
        label = { Text("Password") }, singleLine = true,
        visualTransformation = PasswordVisualTransformation(),
        keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password),
    )
}

/** Issue 17: the account's API credentials (SendPulse: Settings > API). */
@Composable
private fun SendPulseFields(model: LoginModel) {
    val url by model.sendpulseUrl.collectAsState()
    val clientId by model.clientId.collectAsState()
    val clientSecret by model.clientSecret.collectAsState()
    val operatorId by model.operatorId.collectAsState()
    OutlinedTextField(
        url, { model.sendpulseUrl.value = it }, Modifier.fillMaxWidth().testTag("sendpulse-url"),
        label = { Text("API URL") }, singleLine = true,
        keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Uri),
    )
    OutlinedTextField(
        clientId, { model.clientId.value = it }, Modifier.fillMaxWidth().testTag("client-id"),
        label = { Text("Client ID") }, singleLine = true,
    )
    OutlinedTextField(
        clientSecret, { model.clientSecret.value = it }, Modifier.fillMaxWidth().testTag("client-secret"),
        label = { Text("Client secret") }, singleLine = true,
        visualTransformation = PasswordVisualTransformation(),
        keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password),
    )
    OutlinedTextField(
        operatorId, { model.operatorId.value = it }, Modifier.fillMaxWidth().testTag("operator-id"),
        label = { Text("Operator ID (optional)") }, singleLine = true,
        keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Number),
    )
}

@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun InboxScreen(model: InboxModel, open: (ChatSummary) -> Unit) {
    val filter by model.filter.collectAsState()
    val rows by model.rows.collectAsState()
    val counts by model.counts.collectAsState()
    val sync by model.sync.collectAsState()
    val message by model.message.collectAsState()
    InboxContent(filter, rows, counts, sync, message, model, open)
}

/** The inbox drawn from plain values (the benchmark's baseline draws it from a list in memory). */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun InboxContent(
    filter: ChatFilter,
    rows: List<ChatSummary>?,
    counts: StatusCounts?,
    sync: SyncState,
    message: String?,
    model: InboxActions,
    open: (ChatSummary) -> Unit,
) {
    Column(Modifier.fillMaxSize()) {
        syncBanner(sync)?.let {
            Surface(color = Color(0xFFFFF3E0), modifier = Modifier.fillMaxWidth().testTag("sync-banner")) {
                Text(it, Modifier.padding(12.dp, 8.dp))
            }
        }
        // A5: the status lists with their live counts.
        val tabs = listOf(
            StatusFilter.OPEN to ("Open" to counts?.open),
            StatusFilter.UNREAD to ("Unread" to counts?.unread),
            StatusFilter.CLOSED to ("Closed" to counts?.closed),
            StatusFilter.ALL to ("All" to counts?.all),
        )
        TabRow(tabs.indexOfFirst { it.first == filter.status }.coerceAtLeast(0)) {
            tabs.forEach { (status, label) ->
                Tab(
                    selected = filter.status == status,
                    onClick = { model.status(status) },
                    modifier = Modifier.testTag("tab-${status.name}"),
                    text = { Text("${label.first} ${label.second ?: ""}".trim(), Modifier.testTag("count-${status.name}")) },
                )
            }
        }
        // A6: search as the agent types.
        OutlinedTextField(
            filter.search ?: "", { model.search(it) },
            Modifier.fillMaxWidth().padding(8.dp, 4.dp).testTag("search"),
            placeholder = { Text("Search subscribers") }, singleLine = true,
        )
        // A2–A4: app, type and assignee.
        Row(
            Modifier.horizontalScroll(rememberScrollState()).padding(horizontal = 8.dp),
            horizontalArrangement = Arrangement.spacedBy(6.dp),
        ) {
            AssigneeFilter.entries.forEach { a ->
                FilterChip(
                    filter.assignee == a, { model.assignee(a) },
                    { Text(a.name.lowercase().replaceFirstChar { it.uppercase() }) },
                    Modifier.testTag("assignee-${a.name}"),
                )
            }
            listOf(ChatKind.PERSONAL, ChatKind.GROUP).forEach { k ->
                FilterChip(
                    filter.kind == k, { model.kind(if (filter.kind == k) null else k) },
                    { Text(k.name.lowercase().replaceFirstChar { it.uppercase() }) },
                    Modifier.testTag("kind-${k.name}"),
                )
            }
            MessagingApp.entries.forEach { a ->
                FilterChip(
                    filter.app == a, { model.app(if (filter.app == a) null else a) },
                    { Text(appName(a)) }, Modifier.testTag("app-${a.name}"),
                    leadingIcon = { AppMark(a) },
                )
            }
        }
        MessageLine(message)
        val state = rememberLazyListState()
        OnNearEnd(state) { model.more() }
        PullToRefreshBox(isRefreshing = false, onRefresh = { model.refresh() }, modifier = Modifier.fillMaxSize()) {
            LazyColumn(Modifier.fillMaxSize().testTag("inbox-list"), state = state) {
                items(rows ?: emptyList(), key = { it.chat.id }) { row -> ChatRow(row) { open(row) } }
            }
        }
    }
}

/** A row: the app's mark, the status dot, the name, the preview and the time. */
@Composable
fun ChatRow(row: ChatSummary, onClick: () -> Unit) {
    Row(
        Modifier.fillMaxWidth().clickable(onClick = onClick).padding(12.dp, 8.dp).testTag("row-${row.chat.id}"),
        verticalAlignment = Alignment.CenterVertically,
    ) {
        AppMark(row.chat.app)
        Spacer(Modifier.width(10.dp))
        Column(Modifier.weight(1f)) {
            Row(verticalAlignment = Alignment.CenterVertically) {
                StatusDot(row.status)
                Spacer(Modifier.width(6.dp))
                Text(
                    row.chat.title, fontWeight = if (row.status == ChatStatus.UNREAD) FontWeight.Bold else FontWeight.Normal,
                    maxLines = 1, overflow = TextOverflow.Ellipsis, modifier = Modifier.weight(1f),
                )
                Text(time(row.chat.lastActivity), style = MaterialTheme.typography.labelSmall)
            }
            Text(
                row.preview?.let { (if (it.direction == Direction.OUTBOUND) "You: " else "") + it.text } ?: "",
                maxLines = 1, overflow = TextOverflow.Ellipsis, style = MaterialTheme.typography.bodySmall,
                color = Color.DarkGray,
            )
        }
        if (row.chat.unreadCount > 0u) {
            Spacer(Modifier.width(6.dp))
            Text("${row.chat.unreadCount}", color = MaterialTheme.colorScheme.primary, fontWeight = FontWeight.Bold)
        }
    }
    HorizontalDivider()
}
