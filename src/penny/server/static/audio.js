// Audio in and out of the page, and the binary frame format (docs/protocol.md, "Binary audio frames").

export const PROTOCOL = 1;
export const HEADER = 12;
export const KIND_MIC = 1;
export const KIND_REPLY = 2;

/** A microphone frame: 12-byte header + 16 kHz int16 samples. */
export function encodeMicFrame(pcm, seq) {
  const frame = new ArrayBuffer(HEADER + pcm.byteLength);
  const dv = new DataView(frame);
  dv.setUint8(0, KIND_MIC);
  dv.setUint8(1, PROTOCOL);
  dv.setUint16(2, 0, true);
  dv.setUint32(4, 16000, true);
  dv.setUint32(8, seq >>> 0, true);
  new Int16Array(frame, HEADER).set(pcm);
  return frame;
}

/** A reply audio frame, or null when it is not one this client understands. */
export function decodeReplyFrame(buf) {
  if (buf.byteLength < HEADER) return null;
  const dv = new DataView(buf);
  if (dv.getUint8(0) !== KIND_REPLY || dv.getUint8(1) !== PROTOCOL) return null;
  return {
    rate: dv.getUint32(4, true),
    stream: dv.getUint32(8, true),
    pcm: new Int16Array(buf, HEADER, (buf.byteLength - HEADER) >> 1),
  };
}

/** Reply audio: buffers scheduled back to back on the audio clock (gap-free); stop() silences at once. */
export class Player {
  constructor(onSpeaking = () => {}) {
    this.ctx = null;
    this.next = 0;
    this.sources = new Set();
    this.stream = -1;
    this.dropped = new Set();
    this.played = 0;
    this.onSpeaking = onSpeaking;
  }

  ensure() {
    if (!this.ctx) {
      this.ctx = new AudioContext({ latencyHint: "interactive" });
      this.gain = this.ctx.createGain();
      this.gain.connect(this.ctx.destination);
    }
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
    return this.ctx;
  }

  play(stream, rate, pcm) {
    if (this.dropped.has(stream)) return;
    const ctx = this.ensure();
    const buf = ctx.createBuffer(1, pcm.length, rate);
    const ch = buf.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
    const src = ctx.createBufferSource();
    src.buffer = buf;
    src.connect(this.gain);
    const now = ctx.currentTime;
    if (this.next < now + 0.01) this.next = now + 0.06; // a small jitter buffer when a stream (re)starts
    src.start(this.next);
    this.next += buf.duration;
    this.sources.add(src);
    this.played++;
    src.onended = () => {
      this.sources.delete(src);
      if (!this.sources.size) this.onSpeaking(false);
    };
    this.onSpeaking(true);
  }

  /** Barge-in: silence now; with a stream id, also drop that stream's frames still on their way. */
  stop(stream) {
    if (stream !== undefined && stream >= 0) this.dropped.add(stream);
    for (const s of this.sources) {
      try { s.stop(); } catch (_) { /* already stopped */ }
    }
    this.sources.clear();
    this.next = 0;
    this.onSpeaking(false);
  }

  get playing() { return this.sources.size > 0; }
}

/** Microphone -> AudioWorklet -> 16 kHz int16 frames of 20 ms, handed to onFrame(pcm, level). */
export class Mic {
  constructor(onFrame, onEnded) {
    this.onFrame = onFrame;
    this.onEnded = onEnded;
    this.stream = this.source = this.node = null;
  }

  get on() { return this.stream !== null; }

  async start(ctx) {
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
    // what the browser granted: without echo cancellation Penny hears its own voice from the speakers
    this.echoCancellation = this.stream.getAudioTracks()[0]?.getSettings().echoCancellation;
    try {
      await ctx.audioWorklet.addModule("/static/mic-worklet.js");
      this.source = ctx.createMediaStreamSource(this.stream);
      this.node = new AudioWorkletNode(ctx, "penny-mic", { numberOfOutputs: 1, outputChannelCount: [1] });
      const mute = ctx.createGain();
      mute.gain.value = 0;
      this.source.connect(this.node).connect(mute).connect(ctx.destination); // keeps the worklet running
      this.node.port.onmessage = (e) => this.onFrame(e.data.pcm, e.data.level);
      for (const t of this.stream.getAudioTracks()) t.onended = () => this.onEnded();
    } catch (err) {
      this.stop();
      throw err;
    }
  }

  stop() {
    this.stream?.getTracks().forEach((t) => t.stop());
    this.source?.disconnect();
    this.node?.disconnect();
    this.stream = this.source = this.node = null;
  }
}
