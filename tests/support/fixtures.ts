/** Builders for chat events shaped like the challenge's, with every field overridable. */

export const COURIER_ID = 7001;
export const CUSTOMER_ID = 9001;

export function message(orderId: unknown, role: 'courier' | 'customer', messageSentTime: unknown, extra: Record<string, unknown> = {}) {
  const courier = role === 'courier';
  return {
    senderAppType: courier ? 'Courier Android' : 'Customer iOS',
    courierId: COURIER_ID,
    customerId: CUSTOMER_ID,
    fromId: courier ? COURIER_ID : CUSTOMER_ID,
    toId: courier ? CUSTOMER_ID : COURIER_ID,
    chatStartedByMessage: false,
    orderId,
    orderStage: `${role.toUpperCase()}_STAGE`,
    messageSentTime,
    ...extra,
  };
}

export function order(orderId: unknown, cityCode: unknown) {
  return { orderId, cityCode };
}
