package mail

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"strings"
	texttemplate "text/template"
)

// Templates are a service's emails, each a pair of files in one directory:
// <name>.txt (text/template) whose first line is "Subject: ...", and <name>.html
// (html/template, which escapes what the data holds). Both see the same data.
type Templates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// ParseTemplates reads every *.txt and *.html file of fsys (an embed.FS, normally).
// Every text template needs its HTML twin, and the other way round.
func ParseTemplates(fsys fs.FS) (*Templates, error) {
	text, err := texttemplate.New("").Option("missingkey=error").ParseFS(fsys, "*.txt")
	if err != nil {
		return nil, fmt.Errorf("mail: parse text templates: %w", err)
	}
	html, err := htmltemplate.New("").Option("missingkey=error").ParseFS(fsys, "*.html")
	if err != nil {
		return nil, fmt.Errorf("mail: parse HTML templates: %w", err)
	}
	for _, t := range text.Templates() {
		if name, ok := strings.CutSuffix(t.Name(), ".txt"); ok && html.Lookup(name+".html") == nil {
			return nil, fmt.Errorf("mail: %s.txt has no %s.html", name, name)
		}
	}
	for _, t := range html.Templates() {
		if name, ok := strings.CutSuffix(t.Name(), ".html"); ok && text.Lookup(name+".txt") == nil {
			return nil, fmt.Errorf("mail: %s.html has no %s.txt", name, name)
		}
	}
	return &Templates{text: text, html: html}, nil
}

// Render fills the email name with data.
func (t *Templates) Render(name string, data any) (Content, error) {
	var text, html bytes.Buffer
	if err := t.text.ExecuteTemplate(&text, name+".txt", data); err != nil {
		return Content{}, fmt.Errorf("mail: render %s.txt: %w", name, err)
	}
	if err := t.html.ExecuteTemplate(&html, name+".html", data); err != nil {
		return Content{}, fmt.Errorf("mail: render %s.html: %w", name, err)
	}
	first, body, _ := strings.Cut(text.String(), "\n")
	subject, ok := strings.CutPrefix(first, "Subject: ")
	if !ok || strings.TrimSpace(subject) == "" {
		return Content{}, fmt.Errorf("mail: %s.txt must start with a \"Subject: \" line", name)
	}
	return Content{Subject: strings.TrimSpace(subject), Text: strings.TrimLeft(body, "\n"), HTML: html.String()}, nil
}
