// Citizen page: geolocated live video over WHIP (RFC 9725) or a file upload. Same origin only:
// ./whip and ./uploads are the ingest service's endpoints next to this page.
"use strict";

const $ = (id) => document.getElementById(id);
const ICE_GATHERING_TIMEOUT_MS = 5000;
let position = null;   // {lat, lon, accuracy}
let pc = null;         // RTCPeerConnection while streaming
let media = null;      // MediaStream from the camera
let sessionUrl = null; // WHIP session resource (Location header)

function say(id, text, kind = "") {
  const el = $(id);
  el.textContent = text;
  el.className = "status " + kind;
}

function locate() {
  return new Promise((resolve, reject) => {
    if (!("geolocation" in navigator)) {
      reject(new Error("Géolocalisation indisponible sur cet appareil / Geolocation unavailable"));
      return;
    }
    say("geo", "Recherche de votre position… / Locating…");
    navigator.geolocation.getCurrentPosition(
      (p) => {
        position = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy };
        say("geo", `Position : ${position.lat.toFixed(5)}, ${position.lon.toFixed(5)}` +
          (position.accuracy ? ` (± ${Math.round(position.accuracy)} m)` : ""), "ok");
        resolve(position);
      },
      (err) => {
        const msg = err.code === err.PERMISSION_DENIED
          ? "Position refusée : autorisez la localisation pour signaler un incident. / Location refused: allow it to report an incident."
          : `Position introuvable / Location unavailable: ${err.message}`;
        say("geo", msg, "error");
        reject(new Error(msg));
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });
}

function query() {
  const q = new URLSearchParams({ lat: String(position.lat), lon: String(position.lon),
                                  text: $("text").value.trim() });
  if (position.accuracy) q.set("accuracy", String(position.accuracy));
  return q.toString();
}

async function errorText(response) {
  const body = await response.text();
  try { return JSON.parse(body).error || body; } catch { return body || response.statusText; }
}

function iceGatheringComplete(peer) {
  if (peer.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ICE_GATHERING_TIMEOUT_MS); // send what we have
    function done() {
      clearTimeout(timer);
      peer.removeEventListener("icegatheringstatechange", check);
      resolve();
    }
    function check() { if (peer.iceGatheringState === "complete") done(); }
    peer.addEventListener("icegatheringstatechange", check);
  });
}

async function startStreaming() {
  $("stream").disabled = true;
  try {
    if (!position) await locate();
  } catch (e) {
    say("live-status", e.message, "error");
    $("stream").disabled = false;
    return;
  }
  try {
    say("live-status", "Ouverture de la caméra… / Opening the camera…");
    media = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false });
  } catch (e) {
    const refused = e.name === "NotAllowedError" || e.name === "SecurityError";
    say("live-status", refused
      ? "Caméra refusée : autorisez la caméra, ou envoyez une vidéo ci-dessous. / Camera refused: allow it, or upload a video below."
      : `Caméra indisponible / Camera unavailable: ${e.message}`, "error");
    $("stream").disabled = false;
    return;
  }
  $("preview").srcObject = media;
  try {
    say("live-status", "Connexion… / Connecting…");
    pc = new RTCPeerConnection({ iceServers: [] });
    for (const track of media.getVideoTracks()) pc.addTransceiver(track, { direction: "sendonly" });
    pc.addEventListener("connectionstatechange", () => {
      if (!pc) return;
      if (pc.connectionState === "connected") {
        say("live-status", "En direct : la vidéo est transmise. / Streaming: the video is being sent.", "ok");
      } else if (pc.connectionState === "failed") {
        say("live-status", "Connexion perdue / Connection lost.", "error");
        stopStreaming(false);
      }
    });
    await pc.setLocalDescription(await pc.createOffer());
    await iceGatheringComplete(pc);
    const response = await fetch("./whip?" + query(), {
      method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp });
    if (response.status !== 201) throw new Error(`${response.status}: ${await errorText(response)}`);
    sessionUrl = new URL(response.headers.get("Location"), location.href).toString();
    await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
    $("stop").disabled = false;
    document.body.dataset.session = sessionUrl;
    if (pc.connectionState !== "connected") say("live-status", "Connexion… / Connecting…");
  } catch (e) {
    say("live-status", `Erreur du serveur / Server error: ${e.message}`, "error");
    await stopStreaming(false);
  }
}

async function stopStreaming(byUser = true) {
  $("stop").disabled = true;
  const url = sessionUrl;
  sessionUrl = null;
  // End the session on the server first (RFC 9725 section 4.3), then locally.
  if (url) {
    try {
      const response = await fetch(url, { method: "DELETE" });
      document.body.dataset.deleteStatus = String(response.status);
      if (byUser) say("live-status", response.ok
        ? "Direct terminé. Merci ! / Stream ended. Thank you!"
        : `Arrêt : ${await errorText(response)}`, response.ok ? "ok" : "error");
    } catch (e) {
      say("live-status", `Arrêt / Stop: ${e.message}`, "error");
    }
  }
  if (pc) { pc.close(); pc = null; }
  if (media) { media.getTracks().forEach((t) => t.stop()); media = null; }
  $("preview").srcObject = null;
  $("stream").disabled = false;
}

async function upload(event) {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) { say("upload-status", "Choisissez un fichier / Choose a file.", "error"); return; }
  try {
    if (!position) await locate();
  } catch (e) {
    say("upload-status", e.message, "error");
    return;
  }
  $("upload").disabled = true;
  say("upload-status", "Envoi… / Uploading…");
  try {
    const response = await fetch("./uploads?" + query(), {
      method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file });
    if (response.status === 201) {
      const body = await response.json();
      say("upload-status", `Reçu, merci ! / Received, thank you! (${body.report_id})`, "ok");
    } else {
      say("upload-status", `Refusé / Refused (${response.status}): ${await errorText(response)}`, "error");
    }
  } catch (e) {
    say("upload-status", `Erreur réseau / Network error: ${e.message}`, "error");
  } finally {
    $("upload").disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("locate").addEventListener("click", () => locate().catch(() => {}));
  $("stream").addEventListener("click", startStreaming);
  $("stop").addEventListener("click", () => stopStreaming(true));
  $("upload-form").addEventListener("submit", upload);
  window.addEventListener("pagehide", () => {
    if (sessionUrl) fetch(sessionUrl, { method: "DELETE", keepalive: true }); // best effort
  });
});
