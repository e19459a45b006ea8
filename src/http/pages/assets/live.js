// The tag page's live list: new, changed and deleted events appear without a reload.
// The page works without this script; it only adds the stream. The stream starts from
// the position the page was rendered at (data-since), so nothing between the render and
// the connection is missed; EventSource resumes by itself from the last message id.
(function () {
  "use strict";
  var list = document.getElementById("events");
  var status = document.getElementById("live-status");
  if (!list || !list.dataset.tag || !window.EventSource) return;

  var url = "/v1/events/stream?tag=" + encodeURIComponent(list.dataset.tag);
  if (list.dataset.since) url += "&since=" + encodeURIComponent(list.dataset.since);
  var limit = Number(list.dataset.limit) || 20;

  function say(text) {
    if (status) status.textContent = text;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The same markup the server renders for one event (see the pages module).
  function item(event) {
    var li = el("li");
    li.dataset.id = event.id;
    li.dataset.date = event.occurred_on;
    var article = el("article");
    var h3 = el("h3");
    var a = el("a", null, event.title);
    a.href = "/events/" + encodeURIComponent(event.slug);
    h3.appendChild(a);
    var meta = el("p", "meta");
    var time = el("time", null, event.occurred_on);
    time.setAttribute("datetime", event.occurred_on);
    meta.appendChild(time);
    meta.appendChild(document.createTextNode(" · " + event.category + " · " + event.significance));
    article.appendChild(h3);
    article.appendChild(meta);
    article.appendChild(el("p", null, event.summary));
    li.appendChild(article);
    return li;
  }

  function find(id) {
    for (var i = 0; i < list.children.length; i++) {
      if (list.children[i].dataset.id === id) return list.children[i];
    }
    return null;
  }

  // Newest occurred_on first, as the server orders the list.
  function place(li) {
    var empty = document.getElementById("no-events");
    if (empty) empty.remove();
    var before = null;
    for (var i = 0; i < list.children.length; i++) {
      if ((list.children[i].dataset.date || "") < li.dataset.date) {
        before = list.children[i];
        break;
      }
    }
    list.insertBefore(li, before);
    while (list.children.length > limit) list.lastElementChild.remove();
  }

  function show(message, fresh) {
    var event = JSON.parse(message.data);
    var old = find(event.id);
    if (old) old.remove();
    var li = item(event);
    if (fresh) li.className = "fresh";
    place(li);
  }

  var source = new EventSource(url);
  source.addEventListener("open", function () { say("Live: new events appear here as they are posted."); });
  source.addEventListener("error", function () { say("Reconnecting…"); });
  source.addEventListener("created", function (m) { show(m, true); });
  source.addEventListener("updated", function (m) { show(m, false); });
  source.addEventListener("deleted", function (m) {
    var gone = find(JSON.parse(m.data).id);
    if (gone) gone.remove();
  });
  // The server could not replay what was missed: the page is reloaded to start afresh.
  source.addEventListener("reset", function () {
    source.close();
    window.location.reload();
  });
})();
