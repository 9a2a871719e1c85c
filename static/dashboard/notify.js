// Attention: a browser notification (when the agent allowed them), a count in the tab title,
// and an optional sound. The title count is per conversation and clears when it is opened.

const SOUND_KEY = "cc.dashboard.sound";

export class Notifier {
  constructor(baseTitle, {onClick, onChange}) {
    this.baseTitle = baseTitle;
    this.onClick = onClick;
    this.onChange = onChange || (() => {});
    this.pending = new Map(); // session id → count of unseen alerts
    this.audio = null;
    this.soundAllowed = true;
    try { this.soundOn = localStorage.getItem(SOUND_KEY) === "1"; } catch (e) { this.soundOn = false; }
  }

  get supported() {
    return "Notification" in window;
  }

  get permission() {
    return this.supported ? Notification.permission : "unsupported";
  }

  async requestPermission() {
    if (!this.supported) return "unsupported";
    try {
      await Notification.requestPermission();
    } catch (e) { /* older callback form: ignore */ }
    this.onChange();
    return Notification.permission;
  }

  /** The sound button: on (this device, and the preference allows it again) or off (this device). */
  toggleSound() {
    this.soundOn = !this.soundActive;
    if (this.soundOn) this.soundAllowed = true;
    try { localStorage.setItem(SOUND_KEY, this.soundOn ? "1" : "0"); } catch (e) { /* ignore */ }
    if (this.soundOn) this._ensureAudio();
    this.onChange();
    return this.soundOn;
  }

  /** The agent's saved preference `sound` (Settings → Profile): off silences every device; on lets the
   *  sound button of each device decide (soundOn, kept per device). */
  setSoundAllowed(allowed) {
    if (this.soundAllowed === !!allowed) return;
    this.soundAllowed = !!allowed;
    this.onChange();
  }

  /** This device's sound on or off (the sound button's state, kept on this device). */
  setDeviceSound(on) {
    this.soundOn = !!on;
    try { localStorage.setItem(SOUND_KEY, this.soundOn ? "1" : "0"); } catch (e) { /* ignore */ }
    if (this.soundOn) this._ensureAudio();
    this.onChange();
  }

  /** A sound plays with alerts: this device's button is on and the agent's preference allows it. */
  get soundActive() {
    return this.soundOn && this.soundAllowed;
  }

  /** Something needs the agent: counted, notified and beeped unless they are looking at it. */
  alert(sessionId, title, body, {attended}) {
    if (attended) return;
    this.pending.set(sessionId, (this.pending.get(sessionId) || 0) + 1);
    this._updateTitle();
    if (this.soundActive) this._beep();
    if (this.permission === "granted") {
      try {
        const n = new Notification(title, {body: body.slice(0, 200), tag: "cc-" + sessionId, renotify: true,
                                           silent: this.soundActive});
        n.onclick = () => {
          window.focus();
          this.onClick(sessionId);
          n.close();
        };
      } catch (e) { /* e.g. Android Chrome needs a service worker: the title and sound still work */ }
    }
  }

  /** The agent has seen this conversation. */
  seen(sessionId) {
    if (this.pending.delete(sessionId)) this._updateTitle();
  }

  reset() {
    this.pending.clear();
    this._updateTitle();
  }

  get count() {
    let total = 0;
    for (const c of this.pending.values()) total += c;
    return total;
  }

  _updateTitle() {
    const count = this.count;
    document.title = (count ? "(" + count + ") " : "") + this.baseTitle;
  }

  _ensureAudio() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    if (!this.audio) this.audio = new Ctx();
    if (this.audio.state === "suspended") this.audio.resume().catch(() => {});
    return this.audio;
  }

  _beep() {
    const ctx = this._ensureAudio();
    if (!ctx) return;
    try {
      const t = ctx.currentTime;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.setValueAtTime(880, t);
      osc.frequency.setValueAtTime(1320, t + 0.09);
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.2, t + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.25);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 0.26);
    } catch (e) { /* audio is optional */ }
  }
}
