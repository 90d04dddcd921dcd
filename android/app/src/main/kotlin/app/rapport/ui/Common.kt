// Small shared pieces of the screens: the theme, the status dot (A5), the
// app's mark (A2), the message line, and the "near the end" trigger of a lazy list.
package app.rapport.ui

import androidx.compose.foundation.background
import androidx.compose.foundation.border
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.lazy.LazyListState
import androidx.compose.foundation.shape.CircleShape
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.lightColorScheme
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.snapshotFlow
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.platform.testTag
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import androidx.compose.ui.unit.sp
import app.rapport.core.ChatStatus
import app.rapport.core.MessagingApp
import kotlinx.coroutines.flow.distinctUntilChanged

@Composable
fun RapportTheme(content: @Composable () -> Unit) =
    MaterialTheme(
        colorScheme = lightColorScheme(primary = Color(0xFF2F5BEA), secondary = Color(0xFF00897B)),
        content = content,
    )

fun appColor(a: MessagingApp): Color = when (a) {
    MessagingApp.TELEGRAM -> Color(0xFF2AABEE)
    MessagingApp.WHATSAPP -> Color(0xFF25D366)
    MessagingApp.INSTAGRAM -> Color(0xFFE1306C)
    MessagingApp.MESSENGER -> Color(0xFF0084FF)
    MessagingApp.VIBER -> Color(0xFF7360F2)
    MessagingApp.LIVECHAT -> Color(0xFFFF9800)
}

/** A2: every row tells its app. */
@Composable
fun AppMark(app: MessagingApp, modifier: Modifier = Modifier) =
    Box(
        modifier.size(28.dp).background(appColor(app), CircleShape),
        contentAlignment = Alignment.Center,
    ) { Text(appMark(app), color = Color.White, fontWeight = FontWeight.Bold, fontSize = 13.sp) }

/** A5: open = an empty red dot, unread = a filled red dot, closed = a grey dot. */
@Composable
fun StatusDot(status: ChatStatus, modifier: Modifier = Modifier) {
    val red = Color(0xFFE53935)
    val m = modifier.size(10.dp)
    when (status) {
        ChatStatus.OPEN -> Box(m.border(2.dp, red, CircleShape).testTag("dot-open"))
        ChatStatus.UNREAD -> Box(m.background(red, CircleShape).testTag("dot-unread"))
        ChatStatus.CLOSED -> Box(m.background(Color.Gray, CircleShape).testTag("dot-closed"))
    }
}

/** A line for what the core said (an error, a refusal), tagged for the tests. */
@Composable
fun MessageLine(text: String?, tag: String = "message") {
    if (text != null) {
        Text(
            text,
            color = MaterialTheme.colorScheme.error,
            modifier = Modifier.padding(horizontal = 16.dp, vertical = 4.dp).testTag(tag),
        )
    }
}

/** Calls [load] when the last visible item comes within [margin] of the list's end. */
@Composable
fun OnNearEnd(state: LazyListState, margin: Int = 10, load: () -> Unit) {
    LaunchedEffect(state) {
        snapshotFlow {
            val info = state.layoutInfo
            val last = info.visibleItemsInfo.lastOrNull()?.index ?: -1
            info.totalItemsCount > 0 && last >= info.totalItemsCount - margin
        }.distinctUntilChanged().collect { near -> if (near) load() }
    }
}
