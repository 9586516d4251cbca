/*
 * chart.js - time-series line charts drawn by hand on <canvas>.
 *
 *   HMChart.draw(canvas, {
 *     t0, t1,                       // the time window (unix ms)
 *     series: [{points: [{t, v}], color, label}],
 *     band: [lo, hi],               // optional normal range, shaded
 *     range: [min, max],            // optional y range to include
 *     decimals, compact,            // label precision; compact: no axes text
 *     empty: 'No readings yet'
 *   })
 */
(function (root) {
  'use strict';

  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const n = raw / mag;
    return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
  }

  function fmtClock(t) {
    const d = new Date(t);
    return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
  }

  function setup(canvas) {
    const dpr = root.devicePixelRatio || 1;
    const w = canvas.clientWidth || 300;
    const h = canvas.clientHeight || 100;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return { ctx, w, h };
  }

  function draw(canvas, o) {
    const { ctx, w, h } = setup(canvas);
    const compact = !!o.compact;
    const pad = compact ? { l: 4, r: 6, t: 6, b: 4 } : { l: 36, r: 10, t: 8, b: 18 };
    const pw = w - pad.l - pad.r;
    const ph = h - pad.t - pad.b;
    const t0 = o.t0, t1 = o.t1;
    const series = (o.series || []).map((s) => ({
      color: s.color, label: s.label,
      points: s.points.filter((p) => p.t >= t0 - 60000 && p.t <= t1 + 5000 && isFinite(p.v)),
    }));
    let lo = Infinity, hi = -Infinity;
    for (const s of series) for (const p of s.points) { lo = Math.min(lo, p.v); hi = Math.max(hi, p.v); }
    const hasData = lo !== Infinity;
    if (o.range && !hasData) { lo = o.range[0]; hi = o.range[1]; }
    if (o.band && hasData) { lo = Math.min(lo, o.band[0]); hi = Math.max(hi, o.band[1]); }
    if (lo === Infinity) { lo = 0; hi = 1; }
    if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
    const step = niceStep(hi - lo, compact ? 2 : 3);
    lo = Math.floor(lo / step) * step;
    hi = Math.ceil(hi / step) * step;
    const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * pw;
    const y = (v) => pad.t + ph - ((v - lo) / (hi - lo)) * ph;

    ctx.font = '10px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    // Normal range band.
    if (o.band) {
      ctx.fillStyle = 'rgba(31, 157, 85, 0.07)';
      const yb = y(Math.min(hi, o.band[1])), ya = y(Math.max(lo, o.band[0]));
      ctx.fillRect(pad.l, yb, pw, ya - yb);
    }
    // Horizontal grid and y labels.
    ctx.strokeStyle = '#edf0f4';
    ctx.lineWidth = 1;
    ctx.fillStyle = '#8793a3';
    ctx.textAlign = 'right';
    for (let v = lo; v <= hi + step / 2; v += step) {
      const yy = Math.round(y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(pad.l, yy); ctx.lineTo(w - pad.r, yy); ctx.stroke();
      if (!compact) ctx.fillText(+v.toFixed(step < 1 ? 1 : 0) + '', pad.l - 6, yy);
    }
    // Time labels.
    if (!compact) {
      const span = t1 - t0;
      const tstep = span <= 6 * 60000 ? 60000 : span <= 12 * 60000 ? 2 * 60000 : span <= 40 * 60000 ? 5 * 60000 : 15 * 60000;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'alphabetic';
      for (let t = Math.ceil(t0 / tstep) * tstep; t <= t1; t += tstep) {
        const xx = x(t);
        if (xx < pad.l + 14 || xx > w - pad.r - 14) continue;
        ctx.fillText(fmtClock(t), xx, h - 4);
      }
    }
    if (!hasData) {
      ctx.fillStyle = '#a3adba';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.font = '12px system-ui, sans-serif';
      ctx.fillText(o.empty || 'No readings yet', pad.l + pw / 2, pad.t + ph / 2);
      return;
    }
    // Lines, area under the first series, and the latest point.
    ctx.save();
    ctx.beginPath();
    ctx.rect(pad.l, pad.t - 4, pw + 4, ph + 8);
    ctx.clip();
    series.forEach((s, i) => {
      const pts = s.points.slice().sort((a, b) => a.t - b.t);
      if (!pts.length) return;
      if (i === 0 && pts.length > 1) {
        const g = ctx.createLinearGradient(0, pad.t, 0, pad.t + ph);
        g.addColorStop(0, hexA(s.color, 0.18));
        g.addColorStop(1, hexA(s.color, 0));
        ctx.fillStyle = g;
        ctx.beginPath();
        ctx.moveTo(x(pts[0].t), pad.t + ph);
        for (const p of pts) ctx.lineTo(x(p.t), y(p.v));
        ctx.lineTo(x(pts[pts.length - 1].t), pad.t + ph);
        ctx.closePath();
        ctx.fill();
      }
      ctx.strokeStyle = s.color;
      ctx.lineWidth = compact ? 1.6 : 2;
      ctx.lineJoin = 'round';
      ctx.lineCap = 'round';
      ctx.beginPath();
      pts.forEach((p, k) => (k ? ctx.lineTo(x(p.t), y(p.v)) : ctx.moveTo(x(p.t), y(p.v))));
      ctx.stroke();
      if (pts.length < 40 && !compact) {
        ctx.fillStyle = s.color;
        for (const p of pts) { ctx.beginPath(); ctx.arc(x(p.t), y(p.v), 1.8, 0, Math.PI * 2); ctx.fill(); }
      }
      const last = pts[pts.length - 1];
      ctx.beginPath();
      ctx.arc(x(last.t), y(last.v), compact ? 3 : 4, 0, Math.PI * 2);
      ctx.fillStyle = '#fff';
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = s.color;
      ctx.stroke();
    });
    ctx.restore();
  }

  function hexA(hex, a) {
    const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || '');
    if (!m) return `rgba(14,143,134,${a})`;
    return `rgba(${parseInt(m[1], 16)},${parseInt(m[2], 16)},${parseInt(m[3], 16)},${a})`;
  }

  root.HMChart = { draw, fmtClock };
})(typeof self !== 'undefined' ? self : this);
