// Microphone capture worklet: any input rate -> 16 kHz mono int16, posted in 20 ms frames.
// Downsampling averages each output sample's span of input samples (a box filter), which
// removes most of what would alias into the speech band.
const OUT_RATE = 16000;
const FRAME = 320; // 20 ms at 16 kHz

class PennyMic extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ratio = sampleRate / OUT_RATE;
    this.buf = new Float32Array(16384);
    this.len = 0;
    this.pos = 0; // fractional read position in buf
    this.out = new Int16Array(FRAME);
    this.n = 0;
    this.energy = 0;
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || !input.length || !input[0]) return true;
    const ch = input[0];
    if (this.len + ch.length > this.buf.length) this.len = 0; // never happens at sane block sizes
    if (input.length > 1) {
      for (let i = 0; i < ch.length; i++) {
        let s = 0;
        for (let c = 0; c < input.length; c++) s += input[c][i];
        this.buf[this.len + i] = s / input.length;
      }
    } else {
      this.buf.set(ch, this.len);
    }
    this.len += ch.length;
    const r = this.ratio;
    while (this.pos + r <= this.len) {
      const a = Math.floor(this.pos);
      const b = Math.max(a + 1, Math.floor(this.pos + r));
      let s = 0;
      for (let i = a; i < b; i++) s += this.buf[i];
      const v = Math.max(-1, Math.min(1, s / (b - a)));
      this.energy += v * v;
      this.out[this.n++] = v < 0 ? v * 32768 : v * 32767;
      this.pos += r;
      if (this.n === FRAME) {
        const level = Math.sqrt(this.energy / FRAME);
        this.port.postMessage({ pcm: this.out, level }, [this.out.buffer]);
        this.out = new Int16Array(FRAME);
        this.n = 0;
        this.energy = 0;
      }
    }
    const used = Math.floor(this.pos);
    this.buf.copyWithin(0, used, this.len);
    this.len -= used;
    this.pos -= used;
    return true;
  }
}

registerProcessor("penny-mic", PennyMic);
