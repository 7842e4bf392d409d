import { AppError } from './errors.js';
import type { MemberRole } from './types.js';

/**
 * Who may do what in a group, by role. No I/O: the group service reads the roles and these rules
 * decide. The matrix (docs/api.md#group-roles):
 *
 * | action                         | owner | admin                 | member |
 * | rename, describe (PATCH group) | yes   | yes                   | no     |
 * | add a member                   | yes   | yes                   | no     |
 * | remove another member          | yes   | members only          | no     |
 * | leave                          | no ¹  | yes                   | yes    |
 * | change a role, transfer        | yes   | no                    | no     |
 *
 * ¹ The owner transfers ownership first: a group with nobody able to manage it (or to hand it on)
 * could never be run again, and "the oldest admin inherits" would be a rule nobody chose.
 * Admins may not remove each other: otherwise one admin could empty the group of every other
 * manager before the owner noticed; only the owner, who appointed them, removes an admin.
 */
const MANAGERS: ReadonlySet<MemberRole> = new Set(['owner', 'admin']);

export const mayManage = (role: MemberRole): boolean => MANAGERS.has(role);

/** Renaming or describing the group. */
export function requireSettingsRight(role: MemberRole): void {
  if (!mayManage(role)) throw new AppError('FORBIDDEN', 'Only the owner and admins change the group’s settings');
}

/** Adding a member. */
export function requireAddRight(role: MemberRole): void {
  if (!mayManage(role)) throw new AppError('FORBIDDEN', 'Only the owner and admins add members');
}

/** Removing `target` (the caller themselves when `self`: leaving). */
export function requireRemoveRight(caller: MemberRole, target: MemberRole, self: boolean): void {
  if (self) {
    if (caller === 'owner') {
      throw new AppError('CONFLICT', 'The owner cannot leave the group; make another member owner first');
    }
    return;
  }
  if (caller === 'owner') return;
  if (caller === 'admin' && target === 'member') return;
  throw new AppError(
    'FORBIDDEN',
    caller === 'admin'
      ? 'Admins remove members, not the owner or other admins'
      : 'Only the owner and admins remove members',
  );
}

/**
 * Changing `target`'s role to `role` (the caller's own when `self`). Only the owner; the owner's
 * own role changes only by making someone else owner (self → 'owner' is a no-op).
 */
export function requireRoleRight(caller: MemberRole, self: boolean, role: MemberRole): void {
  if (caller !== 'owner') throw new AppError('FORBIDDEN', 'Only the owner changes members’ roles');
  if (self && role !== 'owner') {
    throw new AppError('CONFLICT', 'The owner steps down only by making another member owner');
  }
}
