package main

import (
	"fmt"
	"strconv"
	"strings"
)

// maxEvents keeps a diagram readable: a broadcast to three clients is
// already four arrows.
const maxEvents = 20

// serverID is the server's lifeline; transcripts use "server" for the
// server's console, so no client can have that name.
const serverID = "server"

// mermaidWords are Mermaid keywords that cannot be participant names.
var mermaidWords = []string{"end", "loop", "alt", "else", "opt", "par", "and", "rect", "note", "participant", "actor", "critical", "break", "box", "activate", "deactivate", "autonumber", "create", "destroy", "title"}

// event is one line of a sequence diagram; from and to are the lifelines
// it touches (for the bug note).
type event struct {
	line     int
	text     string
	from, to string
}

// sequence draws lines from-to of a transcript as a Mermaid sequenceDiagram:
// the server and one lifeline per client, what each client types and sees
// as arrows, and the step on line bug (if any) marked with note.
func (g *generator) sequence(spec, bugLine, note string) (string, error) {
	if _, _, _, err := fileRange(spec); err != nil || !strings.Contains(spec, ":") {
		return "", fmt.Errorf("sequence needs a line range, e.g. testdata/kick.txt:4-19")
	}
	_, lines, from, to, err := g.transcriptLines(spec)
	if err != nil {
		return "", err
	}
	bug := 0
	if bugLine != "" {
		bug, err = strconv.Atoi(bugLine)
		if err != nil || bug < from || bug > to {
			return "", fmt.Errorf("bug=%s is not a line in %d-%d", bugLine, from, to)
		}
		if note == "" {
			return "", fmt.Errorf("bug=%s needs note=\"what goes wrong\"", bugLine)
		}
	}
	events, clients, err := transcriptEvents(lines, from)
	if err != nil {
		return "", err
	}
	if len(events) > maxEvents {
		return "", fmt.Errorf("%d events: at most %d make a readable diagram; choose a shorter range", len(events), maxEvents)
	}
	var b strings.Builder
	b.WriteString("sequenceDiagram\n")
	order := []string{serverID}
	if len(clients) > 0 {
		order = append([]string{clients[0]}, append([]string{serverID}, clients[1:]...)...)
	}
	for _, p := range order {
		if p == serverID {
			b.WriteString("    participant server as 服务器<br/>127.0.0.1:8888\n")
			continue
		}
		fmt.Fprintf(&b, "    participant %s as %s<br/>%s\n", p, p, mermaidText("127.0.0.1:<"+p+">"))
	}
	marked := false
	for i, e := range events {
		if e.line != bug {
			fmt.Fprintf(&b, "    %s\n", e.text)
			continue
		}
		// Every event of the bug's line (a sees block has several) goes
		// in one shaded box, with the note after the last.
		if i > 0 && events[i-1].line == bug {
			continue
		}
		b.WriteString("    rect rgb(255, 228, 228)\n")
		j := i
		for ; j < len(events) && events[j].line == bug; j++ {
			fmt.Fprintf(&b, "    %s\n", events[j].text)
		}
		over := e.from
		if e.to != e.from {
			over += "," + e.to
		}
		fmt.Fprintf(&b, "    Note over %s: ⚠ 已知 bug：%s\n", over, mermaidText(note))
		b.WriteString("    end\n")
		marked = true
	}
	if bug != 0 && !marked {
		return "", fmt.Errorf("bug=%d is not a step (a comment or blank line?)", bug)
	}
	diagram := b.String()
	g.diagrams = append(g.diagrams, diagram)
	file, _, _ := strings.Cut(spec, ":")
	return fmt.Sprintf("对话记录 [%s](%s) 第 %d–%d 行：\n\n%s", file, file, from, to, fenced("mermaid", diagram)), nil
}

// transcriptEvents turns transcript lines (the first is line first) into
// diagram events, and lists the clients in the order they appear.
func transcriptEvents(lines []string, first int) ([]event, []string, error) {
	var (
		events  []event
		clients []string
	)
	client := func(name string) (string, error) {
		if contains(mermaidWords, strings.ToLower(name)) {
			return "", fmt.Errorf("client name %q is a Mermaid keyword", name)
		}
		if !contains(clients, name) {
			clients = append(clients, name)
		}
		return name, nil
	}
	for i := 0; i < len(lines); i++ {
		n := first + i
		t := strings.TrimSpace(lines[i])
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		errf := func(format string, a ...any) error {
			return fmt.Errorf("line %d: %s", n, fmt.Sprintf(format, a...))
		}
		add := func(from, to, text string) {
			events = append(events, event{line: n, text: text, from: from, to: to})
		}
		who, rest, _ := strings.Cut(t, " ")
		switch who {
		case "connect":
			c, err := client(rest)
			if err != nil {
				return nil, nil, errf("%v", err)
			}
			add(c, serverID, fmt.Sprintf("%s-)%s: 连接 connect", c, serverID))
			continue
		case "wait":
			add(serverID, serverID, fmt.Sprintf("Note over %s: 等待 %s", serverID, mermaidText(rest)))
			continue
		case serverID:
			verb, arg, _ := strings.Cut(rest, " ")
			switch verb {
			case "prints":
				add(serverID, serverID, fmt.Sprintf("Note over %s: 控制台 %s", serverID, mermaidText(arg)))
			case "crashes":
				add(serverID, serverID, fmt.Sprintf("Note over %s: 崩溃 %s", serverID, mermaidText(arg)))
			case "args":
				add(serverID, serverID, fmt.Sprintf("Note over %s: 参数 %s", serverID, mermaidText(arg)))
			default:
				return nil, nil, errf("unknown server step %q", t)
			}
			continue
		}
		c, err := client(who)
		if err != nil {
			return nil, nil, errf("%v", err)
		}
		verb, arg, _ := strings.Cut(rest, " ")
		switch {
		case rest == "sees, in any order:":
			for i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), `"`) {
				i++
				add(serverID, c, fmt.Sprintf("%s-->>%s: %s", serverID, c, mermaidText(strings.TrimSpace(lines[i]))))
			}
		case rest == "sees nothing":
			add(c, c, fmt.Sprintf("Note over %s: 什么也没收到", c))
		case rest == "is disconnected":
			add(serverID, c, fmt.Sprintf("%s-x%s: 断开连接 disconnected", serverID, c))
		case rest == "quits":
			add(c, serverID, fmt.Sprintf("%s-x%s: 断开 quits", c, serverID))
		case rest == "resets":
			add(c, serverID, fmt.Sprintf("%s-x%s: RST resets", c, serverID))
		case verb == "types":
			add(c, serverID, fmt.Sprintf("%s->>%s: %s", c, serverID, mermaidText(arg)))
		case verb == "sees":
			add(serverID, c, fmt.Sprintf("%s-->>%s: %s", serverID, c, mermaidText(arg)))
		case verb == "may":
			lit := strings.TrimSuffix(strings.TrimPrefix(arg, "see "), " any number of times")
			add(c, c, fmt.Sprintf("Note over %s: 可能收到任意多个 %s", c, mermaidText(lit)))
		default:
			return nil, nil, errf("unknown step %q", t)
		}
	}
	return events, clients, nil
}

// mermaidText escapes text for a Mermaid message or note: characters the
// parser would take as syntax or HTML become entity codes, and a run of
// spaces keeps its width (HTML would fold "hello   there" into one space).
func mermaidText(s string) string {
	s = strings.ReplaceAll(s, "  ", " \u00a0")
	s = strings.ReplaceAll(s, "\u00a0 ", "\u00a0\u00a0")
	return strings.NewReplacer(
		"#", "#35;",
		";", "#59;",
		"<", "#lt;",
		">", "#gt;",
		"&", "#amp;",
		"%", "#37;",
		"{", "#123;",
		"}", "#125;",
	).Replace(s)
}
