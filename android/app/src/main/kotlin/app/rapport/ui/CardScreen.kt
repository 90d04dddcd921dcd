// The subscriber card (F1–F8) and the deals (G1–G3).
package app.rapport.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.AssistChip
import androidx.compose.material3.Card
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.InputChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.platform.testTag
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import app.rapport.core.CrmContact
import app.rapport.core.Deal
import app.rapport.core.SubscriptionStatus

@Composable
private fun Section(title: String) =
    Text(title, style = MaterialTheme.typography.titleSmall, modifier = Modifier.padding(top = 12.dp, bottom = 4.dp))

@Composable
fun CardScreen(model: CardModel, back: () -> Unit = {}) {
    val s by model.subscriber.collectAsState()
    val message by model.message.collectAsState()
    val query by model.flowQuery.collectAsState()
    val flows by model.flows.collectAsState()
    Column(Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(12.dp).testTag("card")) {
        TextButton(back, Modifier.testTag("back")) { Text("‹ Back") }
        MessageLine(message)
        val sub = s ?: run { Text("No card for this subscriber yet."); return@Column }
        // F1/F2.
        Row(verticalAlignment = Alignment.CenterVertically) {
            AppMark(sub.app)
            Column(Modifier.padding(start = 10.dp)) {
                Text(sub.name, style = MaterialTheme.typography.titleLarge, modifier = Modifier.testTag("card-name"))
                sub.username?.let { Text("@$it", color = Color.Gray) }
            }
        }
        sub.email?.let { Text("✉ $it") }
        sub.phone?.let { Text("☎ $it") }
        Text(
            when (sub.status) {
                SubscriptionStatus.ACTIVE -> "Subscribed"
                SubscriptionStatus.UNSUBSCRIBED -> "Unsubscribed"
                SubscriptionStatus.DISABLED -> "Disabled"
            } + " since ${dayTime(sub.subscribedAt)}" + (sub.lastActivityAt?.let { " · last active ${dayTime(it)}" } ?: ""),
            modifier = Modifier.testTag("card-status"),
        )
        sub.group?.let { g ->
            Text("Group of ${g.memberCount} members")
            g.shareLink?.let { Text("Share: $it") }
            g.inviteLink?.let { Text("Invite: $it") }
        }
        // F3/F4.
        sub.instagram?.let { i ->
            Text((if (i.followsBusiness) "Follows you" else "Does not follow you") + " · " +
                (if (i.businessFollows) "you follow them" else "you do not follow them"))
        }
        sub.adSource?.let { Text("Came from the ad ${it.name} (${it.url})") }
        // F5: variables.
        Section("Variables")
        sub.variables.toSortedMap().forEach { (k, v) -> Text("$k = $v", Modifier.testTag("var-$k")) }
        var name by remember { mutableStateOf("") }
        var value by remember { mutableStateOf("") }
        Row(horizontalArrangement = Arrangement.spacedBy(6.dp), verticalAlignment = Alignment.CenterVertically) {
            OutlinedTextField(name, { name = it }, Modifier.weight(1f).testTag("var-name"), label = { Text("Name") }, singleLine = true)
            OutlinedTextField(value, { value = it }, Modifier.weight(1f).testTag("var-value"), label = { Text("Value") }, singleLine = true)
            TextButton({ model.setVariable(name.trim(), value) }, Modifier.testTag("var-set")) { Text("Set") }
        }
        // F5: tags.
        Section("Tags")
        Row(horizontalArrangement = Arrangement.spacedBy(6.dp)) {
            sub.tags.forEach { t -> InputChip(true, { model.removeTag(t) }, { Text("$t ✕") }, Modifier.testTag("tag-$t")) }
        }
        var tag by remember { mutableStateOf("") }
        Row(verticalAlignment = Alignment.CenterVertically) {
            OutlinedTextField(tag, { tag = it }, Modifier.weight(1f).testTag("tag-name"), label = { Text("Tag") }, singleLine = true)
            TextButton({ model.addTag(tag.trim()); tag = "" }, Modifier.testTag("tag-add")) { Text("Add") }
        }
        // F6: the active flow, start one by name, stop it.
        Section("Flow")
        sub.activeFlow?.let { f ->
            Row(verticalAlignment = Alignment.CenterVertically) {
                Text("${f.name}: ${f.queuedMessages} queued", Modifier.weight(1f).testTag("active-flow"))
                TextButton({ model.stopFlow() }, Modifier.testTag("flow-stop")) { Text("Stop") }
            }
        }
        OutlinedTextField(query, { model.flowQuery.value = it }, Modifier.fillMaxWidth().testTag("flow-search"),
            placeholder = { Text("Search flows") }, singleLine = true)
        flows.take(5).forEach { f -> TextButton({ model.startFlow(f) }, Modifier.testTag("flow-${f.id}")) { Text("Start ${f.name}") } }
        // G2: the CRM contact.
        Section("CRM contact")
        val crm = sub.crmContact
        var first by remember(crm) { mutableStateOf(crm?.firstName ?: "") }
        var last by remember(crm) { mutableStateOf(crm?.lastName ?: "") }
        var phone by remember(crm) { mutableStateOf(crm?.phone ?: "") }
        Row(horizontalArrangement = Arrangement.spacedBy(6.dp)) {
            OutlinedTextField(first, { first = it }, Modifier.weight(1f).testTag("crm-first"), label = { Text("First name") }, singleLine = true)
            OutlinedTextField(last, { last = it }, Modifier.weight(1f).testTag("crm-last"), label = { Text("Last name") }, singleLine = true)
        }
        OutlinedTextField(phone, { phone = it }, Modifier.fillMaxWidth().testTag("crm-phone"), label = { Text("Phone") }, singleLine = true)
        TextButton({ model.crm(CrmContact(first, last, phone.ifBlank { null })) }, Modifier.testTag("crm-save")) { Text("Save contact") }
        // F8.
        if (sub.status != SubscriptionStatus.DISABLED) {
            OutlinedButton({ model.disable() }, Modifier.testTag("disable")) { Text("Disable subscriber") }
        }
        HorizontalDivider(Modifier.padding(vertical = 8.dp))
        DealsSection(model)
    }
}

/** G1–G3: the subscriber's deals, most recently updated first; move one to another stage. */
@Composable
fun DealsSection(model: CardModel) {
    val deals by model.deals.collectAsState()
    Section("Deals")
    if (deals.isEmpty()) Text("No deals yet.", color = Color.Gray)
    deals.forEach { d -> DealCard(d, model) }
}

@Composable
private fun DealCard(d: Deal, model: CardModel) {
    Card(Modifier.fillMaxWidth().padding(vertical = 4.dp).testTag("deal-${d.id}")) {
        Column(Modifier.padding(10.dp)) {
            Text(d.name, fontWeight = FontWeight.Bold)
            Text("${d.pipeline.name} · ${d.stage.name}", Modifier.testTag("deal-stage-${d.id}"))
            Text(money(d.amountMinor, d.currency))
            d.url?.let { Text("Open the deal card", color = MaterialTheme.colorScheme.primary) }
            Row(horizontalArrangement = Arrangement.spacedBy(6.dp)) {
                model.stagesOf(d).filter { it != d.stage }.forEach { st ->
                    AssistChip({ model.editDeal(d, stage = st) }, { Text("→ ${st.name}") }, Modifier.testTag("move-${d.id}-${st.id}"))
                }
            }
        }
    }
}
