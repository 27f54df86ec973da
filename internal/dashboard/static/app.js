// keyward dashboard enhancements. Every page works without this file: the copy button is an
// extra, and a delete or remove form falls back to its confirmation page.
(function () {
  "use strict";

  // Passkeys (WebAuthn) need this script: a button with data-passkey ("register" or "login")
  // and data-action fetches the ceremony's options from ACTION/options, asks the authenticator,
  // and posts its answer to ACTION; the server's redirect is then followed. The buttons stay
  // hidden in browsers without WebAuthn's JSON helpers.
  document.querySelectorAll("button[data-passkey]").forEach(function (button) {
    var status = document.querySelector("[data-passkey-status]");
    if (!window.PublicKeyCredential || !PublicKeyCredential.parseCreationOptionsFromJSON) {
      return;
    }
    button.hidden = false;
    function refused(resp) {
      return resp.text().then(function (html) {
        // The server answers with a page; its alert or error text says why.
        var doc = new DOMParser().parseFromString(html, "text/html");
        var el = doc.querySelector("[role=alert], .field-error, .error-card p:not(.error-status)");
        throw new Error(el ? el.textContent.trim() : "The passkey did not work (" + resp.status + ").");
      });
    }
    function post(url, body, type) {
      return fetch(url, { method: "POST", credentials: "same-origin", headers: { "Content-Type": type }, body: body });
    }
    button.addEventListener("click", function () {
      var register = button.getAttribute("data-passkey") === "register";
      var action = button.getAttribute("data-action");
      var params = new URLSearchParams();
      if (register) {
        params.set("name", document.getElementById("passkey-name").value);
      }
      if (status) {
        status.textContent = "";
      }
      button.disabled = true;
      post(action + "/options", params.toString(), "application/x-www-form-urlencoded").then(function (resp) {
        return resp.ok ? resp.json() : refused(resp);
      }).then(function (options) {
        if (register) {
          return navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey) });
        }
        return navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey) });
      }).then(function (credential) {
        return post(action, JSON.stringify(credential.toJSON()), "application/json");
      }).then(function (resp) {
        if (!resp.ok) {
          return refused(resp);
        }
        window.location.assign(resp.url);
      }).catch(function (err) {
        button.disabled = false;
        if (status) {
          status.textContent = err.message || "The passkey did not work.";
        }
      });
    });
  });

  // Copy buttons: data-copy names the input whose value is copied.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    var status = document.querySelector('[data-copy-status="' + button.getAttribute("data-copy") + '"]');
    if (!target) {
      return;
    }
    button.hidden = false;
    if (status) {
      status.textContent = "";
    }
    button.addEventListener("click", function () {
      copy(target).then(function () {
        button.textContent = "Copied";
        if (status) {
          status.textContent = "Copied to your clipboard.";
        }
        setTimeout(function () { button.textContent = "Copy"; }, 2500);
      }, function () {
        target.focus();
        target.select();
        if (status) {
          status.textContent = "Press Ctrl+C (or ⌘C) to copy the selected text.";
        }
      });
    });
  });

  function copy(input) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(input.value);
    }
    return new Promise(function (resolve, reject) {
      input.focus();
      input.select();
      try {
        if (document.execCommand("copy")) {
          resolve();
          return;
        }
      } catch (e) { /* fall through */ }
      reject(new Error("copy refused"));
    });
  }

  // Confirmation dialogs. A form with data-confirm-title leads (GET) to a confirmation page;
  // with script, the same question is asked in a dialog that posts to that page's address.
  var dialog = document.getElementById("confirm-dialog");
  if (!dialog || typeof dialog.showModal !== "function") {
    return;
  }
  var dialogForm = dialog.querySelector("form");
  var title = document.getElementById("confirm-title");
  var text = document.getElementById("confirm-text");
  var submit = document.getElementById("confirm-submit");
  var opener = null;

  document.querySelectorAll("form[data-confirm-title]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      opener = form.querySelector("button");
      // textContent, never innerHTML: the title holds a user-chosen name.
      title.textContent = form.getAttribute("data-confirm-title");
      text.textContent = form.getAttribute("data-confirm-text") || "";
      submit.textContent = form.getAttribute("data-confirm-button") || "Confirm";
      dialogForm.action = form.action;
      dialog.showModal();
      dialog.querySelector("[data-dialog-cancel]").focus();
    });
  });

  dialog.querySelector("[data-dialog-cancel]").addEventListener("click", function () {
    dialog.close();
  });
  dialog.addEventListener("close", function () {
    if (opener) {
      opener.focus();
    }
  });
})();
