/**
 * log(erfc(x)) for the RDP accountant, accurate where erfc itself underflows (x > 26.5): the
 * sampled Gaussian's tail terms reach arguments in the hundreds. W. J. Cody's rational Chebyshev
 * approximations (Math. Comp. 23, 1969; the netlib CALERF coefficients, as the nearest doubles)
 * are near double precision on each interval. Above 0.46875 they give exp(x²)·erfc(x), so the
 * log never forms erfc.
 */

/** erf(y) = y·P(y²)/Q(y²) for |y| ≤ 0.46875. */
const A = [
  3.1611237438705655, 113.86415415105016, 377.485237685302, 3209.3775891384694, 0.18577770618460315,
] as const;
const B = [23.601290952344122, 244.02463793444417, 1282.6165260773723, 2844.236833439171] as const;

/** exp(y²)·erfc(y) = P(y)/Q(y) for 0.46875 < y ≤ 4. */
const C = [
  0.5641884969886701, 8.883149794388377, 66.11919063714163, 298.6351381974001, 881.952221241769,
  1712.0476126340707, 2051.0783778260716, 1230.3393547979972, 2.1531153547440383e-8,
] as const;
const D = [
  15.744926110709835, 117.6939508913125, 537.1811018620099, 1621.3895745666903, 3290.7992357334597,
  4362.619090143247, 3439.3676741437216, 1230.3393548037495,
] as const;

/** exp(y²)·erfc(y) = (1/√π − P(1/y²)/(y² Q(1/y²)))/y for y > 4. */
const P = [
  0.30532663496123236, 0.36034489994980445, 0.12578172611122926, 0.016083785148742275,
  0.0006587491615298378, 0.016315387137302097,
] as const;
const Q = [
  2.568520192289822, 1.8729528499234604, 0.5279051029514285, 0.06051834131244132,
  0.0023352049762686918,
] as const;

const ONE_OVER_SQRT_PI = 0.5641895835477563;
const SMALL_ARGUMENT = 0.46875;

/** erf(x) for |x| ≤ 0.46875. */
function erfNearZero(x: number): number {
  const z = x * x;
  let num = A[4] * z;
  let den = z;
  for (let i = 0; i < 3; i++) {
    num = (num + A[i]!) * z;
    den = (den + B[i]!) * z;
  }
  return (x * (num + A[3])) / (den + B[3]);
}

/** The scaled complement exp(y²)·erfc(y) for y > 0.46875; it falls like 1/(y√π). */
function erfcxAbove(y: number): number {
  if (y <= 4) {
    let num = C[8] * y;
    let den = y;
    for (let i = 0; i < 7; i++) {
      num = (num + C[i]!) * y;
      den = (den + D[i]!) * y;
    }
    return (num + C[7]) / (den + D[7]);
  }
  const z = 1 / (y * y);
  let num = P[5] * z;
  let den = z;
  for (let i = 0; i < 4; i++) {
    num = (num + P[i]!) * z;
    den = (den + Q[i]!) * z;
  }
  return (ONE_OVER_SQRT_PI - (z * (num + P[4])) / (den + Q[4])) / y;
}

/** log(erfc(x)), finite for every finite x. */
export function logErfc(x: number): number {
  const y = Math.abs(x);
  // log1p keeps the relative accuracy of log(1 − erf(x)) as x goes to 0.
  if (!(y > SMALL_ARGUMENT)) return Math.log1p(-erfNearZero(x)); // also NaN
  if (x > 0) return Math.log(erfcxAbove(y)) - y * y;
  // erfc(x) = 2 − erfc(|x|) = 2·(1 − erfc(|x|)/2) for x < 0.
  return Math.LN2 + Math.log1p(-0.5 * erfcxAbove(y) * Math.exp(-y * y));
}
