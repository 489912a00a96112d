// Progressive enhancement: a file chooser that fills a textarea with the chosen file's text
// (the IdP metadata XML). Without JavaScript the chooser stays hidden and pasting works.
document.querySelectorAll("input[type=file][data-fills]").forEach(function (input) {
  var target = document.getElementById(input.getAttribute("data-fills"));
  if (!target) { return; }
  input.hidden = false;
  var label = document.querySelector("label[for='" + input.id + "']");
  if (label) { label.hidden = false; }
  input.addEventListener("change", function () {
    var file = input.files && input.files[0];
    if (!file) { return; }
    file.text().then(function (text) { target.value = text; });
  });
});
